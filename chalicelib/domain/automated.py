"""Automated plans (API.md "Automated plans"), pure: triggers and their defaults, the window,
when an occurrence falls due, its key, whether it still qualifies when due, the order of
skip reasons, the cart model, the price-drop audience, the smart voucher and button
defaults. Callers pass ``now`` (ms) and plain values; nothing here reads a clock or AWS."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from chalicelib.domain import aggregates
from chalicelib.domain.aggregates import DAY_MS, PAID, REFUNDED, order_key
from chalicelib.domain.errors import validation_details
from chalicelib.domain.vouchers import Moment

MINUTE_MS = 60_000
HOUR_MS = 3_600_000
# Triggers act only on events whose occurred_at is at most this old when handled.
FRESH_MS = 24 * HOUR_MS
PRICE_DROP_LOOKBACK_MS = 30 * DAY_MS
MAX_PRODUCTS = 4
DEFAULT_COOLDOWN_HOURS = 24
DEFAULT_LEAD_MINUTES = 10
# When several apply, the first of these is the reason given (API.md).
SKIP_ORDER = ("blocked", "unsubscribed", "exited", "paused", "outside_window",
              "not_in_audience", "cooldown", "frequency_cap", "holdout")
# The customer events each trigger listens to (shop events fan out to many customers).
FIRES_ON = {"abandoned_cart": "cart_added", "incomplete_payment": "payment_started",
            "price_drop": "price_dropped", "live_reminder": "live_started",
            "thank_you": "order_paid"}


class _Trigger(BaseModel):
    model_config = ConfigDict(extra="ignore")


class AbandonedCart(_Trigger):
    type: Literal["abandoned_cart"]
    delay_minutes: int = Field(60, ge=0, le=10080)


class IncompletePayment(_Trigger):
    type: Literal["incomplete_payment"]
    delay_minutes: int = Field(30, ge=0, le=10080)


class PriceDrop(_Trigger):
    type: Literal["price_drop"]
    min_drop_percent: int = Field(5, ge=1, le=99)


class LiveReminder(_Trigger):
    type: Literal["live_reminder"]
    lead_minutes: int = Field(DEFAULT_LEAD_MINUTES, ge=0, le=1440)


class ThankYou(_Trigger):
    type: Literal["thank_you"]
    delay_minutes: int = Field(0, ge=0, le=10080)


Trigger = Annotated[AbandonedCart | IncompletePayment | PriceDrop | LiveReminder | ThankYou,
                    Field(discriminator="type")]
TRIGGER_ADAPTER: TypeAdapter = TypeAdapter(Trigger)


class Window(BaseModel):
    """Outside [start, end] nothing fires (both optional)."""
    model_config = ConfigDict(extra="ignore")
    start: Moment | None = None
    end: Moment | None = None


def parse_trigger(raw: Any) -> tuple[dict | None, list[dict[str, str]]]:
    """(the trigger with its defaults filled in, problems named by ``trigger.<path>``)."""
    try:
        return TRIGGER_ADAPTER.validate_python(raw).model_dump(mode="json"), []
    except ValidationError as exc:
        tag = f"{raw.get('type')}." if isinstance(raw, dict) else None
        out = []
        for d in validation_details(exc):
            path = d["path"] or ""
            if tag and path.startswith(tag):      # the union's tag is not part of the body
                path = path[len(tag):]
            out.append({"path": "trigger" + (f".{path}" if path else ""), "message": d["message"]})
        return None, out


def form_problems(plan: dict[str, Any], now_ms: int, sending: bool) -> list[dict[str, str]]:
    """What an automated plan's form must hold (a draft may lack a trigger, not have a bad
    one): a valid trigger, an audience for LIVE reminders, a window that has not ended and
    does not end before it starts, chat as the channel."""
    problems: list[dict[str, str]] = []
    trigger = plan.get("trigger")
    if trigger is None:
        if sending:
            problems.append({"path": "trigger", "message": "an automated plan needs a trigger"})
    else:
        parsed, bad = parse_trigger(trigger)
        problems += bad
        audience = plan.get("audience") or {}
        if parsed and parsed["type"] == "live_reminder" and not audience.get("segment_ids"):
            problems.append({"path": "audience",
                             "message": "a live_reminder plan needs an audience"})
    window = plan.get("window") or {}
    start, end = window.get("start"), window.get("end")
    if end is not None and end <= now_ms:
        problems.append({"path": "window.end", "message": "window.end is already past"})
    if start is not None and end is not None and end <= start:
        problems.append({"path": "window.end", "message": "window.end must be after window.start"})
    if any(c != "chat" for c in plan.get("channels") or []):
        problems.append({"path": "channels", "message": "automated plans send chat messages"})
    if sending and not plan.get("content"):
        problems.append({"path": "content", "message": "a template_id or a text is required"})
    return problems


def default_button(trigger: dict, live_id: str | None = None) -> dict:
    """cart for cart/payment/price triggers, the LIVE for reminders, the product list for
    thank-you messages."""
    kind = trigger["type"]
    if kind == "live_reminder":
        return {"type": "live", **({"target": live_id} if live_id else {})}
    if kind == "thank_you":
        return {"type": "product_list"}
    return {"type": "cart"}


def in_window(window: dict | None, now_ms: int) -> bool:
    window = window or {}
    start, end = window.get("start"), window.get("end")
    return (start is None or now_ms >= start) and (end is None or now_ms <= end)


def has_ended(window: dict | None, now_ms: int) -> bool:
    end = (window or {}).get("end")
    return end is not None and now_ms > end


def is_fresh(occurred_ms: int, now_ms: int) -> bool:
    """Only events of the last 24 hours trigger anything (an old event creates nothing)."""
    return now_ms - FRESH_MS <= occurred_ms


# ----- the cart model ---------------------------------------------------------------------

def last_paid(agg: dict, before_ms: int | None = None) -> int:
    """The latest paid order time (refunded or not), at or before ``before_ms``; 0 if none."""
    times = [row[PAID] for row in aggregates.order_rows(agg) if row[PAID] is not None
             and (before_ms is None or row[PAID] <= before_ms)]
    last = agg.get("last", {}).get("order_paid")
    if last is not None and (before_ms is None or last <= before_ms):
        times.append(last)
    return max(times, default=0)


def cart_episode(agg: dict, cart_ms: int) -> int:
    """A cart episode starts at the customer's last paid order before the cart event: a paid
    order ends the episode and empties the cart."""
    return last_paid(agg, cart_ms)


def cart_products(agg: dict) -> list[str]:
    """Products still in the cart, latest added first: added after their latest removal and
    after the latest paid order (which empties the cart)."""
    emptied = last_paid(agg)
    lines = [(added, pid) for pid, (added, removed) in (agg.get("cart") or {}).items()
             if added is not None and added > (removed or -1) and added > emptied]
    return [pid for _, pid in sorted(lines, reverse=True)]


# ----- occurrences --------------------------------------------------------------------------

@dataclass(frozen=True)
class Occurrence:
    """One message at most: its key within the plan, whom, when it is due, what it carries."""
    key: str
    customer_id: str
    due_ms: int
    data: dict


def occurrence_for(trigger: dict, event: dict, agg: dict | None, now_ms: int
                   ) -> Occurrence | None:
    """The occurrence a customer event creates (or extends, for carts), or None when the event
    does not fire this trigger. Due times count from ``occurred_at`` (ms in ``event``)."""
    kind, etype = trigger["type"], event["type"]
    if FIRES_ON.get(kind) != etype or not is_fresh(event["occurred_ms"], now_ms):
        return None
    cid, at = event["customer_id"], event["occurred_ms"]
    delay = trigger.get("delay_minutes", 0) * MINUTE_MS
    if kind == "abandoned_cart":
        episode = cart_episode(agg or aggregates.empty(), at)
        return Occurrence(f"cart#{cid}#{episode}", cid, at + delay, {"cart_ms": at})
    if kind == "incomplete_payment":
        return Occurrence(f"pay#{event['order_id']}", cid, at + delay,
                          {"order_id": event["order_id"],
                           "product_ids": list(event.get("product_ids") or [])[:MAX_PRODUCTS]})
    if kind == "thank_you":
        return Occurrence(f"order#{event['order_id']}", cid, at + delay,
                          {"order_id": event["order_id"],
                           "product_ids": list(event.get("product_ids") or [])[:MAX_PRODUCTS]})
    return None


def drop_percent(old_price: Decimal, new_price: Decimal) -> Decimal:
    if old_price <= 0:
        return Decimal(0)
    return ((old_price - new_price) * 100 / old_price).quantize(Decimal("0.01"), ROUND_HALF_UP)


def price_drop_fires(trigger: dict, event: dict, now_ms: int) -> bool:
    return (trigger["type"] == "price_drop" and event["type"] == "price_dropped"
            and is_fresh(event["occurred_ms"], now_ms)
            and drop_percent(Decimal(str(event["old_price"])), Decimal(str(event["new_price"])))
            >= trigger.get("min_drop_percent", 5))


def price_drop_interested(interest_ms: int | None, paid_ms: int | None, now_ms: int) -> bool:
    """Favourited or carted the product in the last 30 days, and no paid order containing it
    since the latest favourite or cart of it."""
    if interest_ms is None or interest_ms < now_ms - PRICE_DROP_LOOKBACK_MS:
        return False
    return paid_ms is None or paid_ms < interest_ms


def live_due(trigger: dict, starts_ms: int, occurred_ms: int) -> int:
    """``lead_minutes`` before the LIVE starts, or at once when that is already past."""
    return max(starts_ms - lead_minutes(trigger) * MINUTE_MS, occurred_ms)


def lead_minutes(trigger: dict) -> int:
    return int(trigger.get("lead_minutes", DEFAULT_LEAD_MINUTES))


def reminds_at_start(trigger: dict) -> bool:
    """A LIVE reminder with no lead time: due when the LIVE starts (see ``exited``)."""
    return trigger.get("type") == "live_reminder" and lead_minutes(trigger) == 0


# ----- when due: does it still qualify, and the reason it is skipped --------------------------

# A LIVE reminder due at the start itself (``lead_minutes`` 0: "we are LIVE now") still
# qualifies this long after the start: the timer's lateness bound (docs/automated-plans.md).
AT_START_GRACE_MS = 60 * 1000


def exited(kind: str, data: dict, agg: dict, now_ms: int, at_start: bool = False) -> bool:
    """The message no longer qualifies (API.md's "sent only if, when due", negated).
    ``at_start``: a LIVE reminder with no lead time, due when the LIVE starts; "``starts_at``
    has not passed" is read at its due time, so a sweep within ``AT_START_GRACE_MS`` of the
    start still sends it (read at the sweep's own time it could never be sent)."""
    if kind == "abandoned_cart":
        paid_since = last_paid(agg) > data.get("cart_ms", 0)
        return paid_since or not cart_products(agg)
    if kind == "incomplete_payment":
        order = (agg.get("orders") or {}).get(order_key(data["order_id"]))
        return order is not None and order[PAID] is not None
    if kind == "thank_you":
        order = (agg.get("orders") or {}).get(order_key(data["order_id"]))
        return order is not None and order[REFUNDED] is not None
    if kind == "live_reminder":
        return now_ms >= data["starts_ms"] + (AT_START_GRACE_MS if at_start else 0)
    return False


def first_reason(checks: Iterable[tuple[str, Callable[[], bool]]]) -> str | None:
    """The first reason (in ``SKIP_ORDER``) whose check holds; checks run lazily in that
    order, so a costly one (the audience) runs only when nothing before it applies."""
    table = dict(checks)
    for reason in SKIP_ORDER:
        check = table.get(reason)
        if check is not None and check():
            return reason
    return None


def held_out(plan_id: str, customer_id: str, percent: int) -> bool:
    """A stable share of customers (by a hash of plan + customer) is never messaged."""
    if percent <= 0:
        return False
    digest = hashlib.sha256(f"{plan_id}{customer_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % 10_000 < percent * 100


def message_products(kind: str, data: dict, agg: dict) -> list[str]:
    if kind == "abandoned_cart":
        return cart_products(agg)[:MAX_PRODUCTS]
    if kind == "price_drop":
        return [data["product_id"]]
    if kind == "live_reminder":
        return []
    return list(data.get("product_ids") or [])[:MAX_PRODUCTS]


# ----- the smart voucher ----------------------------------------------------------------------

def discount_on(voucher: dict, basket: Decimal) -> Decimal:
    discount = voucher["discount"]
    value = Decimal(str(discount["value"]))
    if discount["type"] == "percent":
        return (basket * value / 100).quantize(Decimal("0.01"), ROUND_HALF_UP)
    return min(value, basket)


def usable_now(voucher: dict, now_ms: int, members: Callable[[str], bool]) -> bool:
    """Valid at send time, quantity left (``given`` = already given out in messages), and a
    targeted one only for members of its segment."""
    if voucher.get("valid_from") is not None and now_ms < voucher["valid_from"]:
        return False
    if voucher.get("valid_until") is not None and now_ms > voucher["valid_until"]:
        return False
    quantity = voucher.get("quantity")
    if quantity is not None and voucher.get("given", 0) >= quantity:
        return False
    if voucher.get("kind") == "targeted":
        return bool(voucher.get("segment_id")) and members(voucher["segment_id"])
    return True


def smart_voucher(candidates: list[dict], basket: Decimal) -> dict | None:
    """API.md's rule over candidates already usable now: the smallest ``min_spend`` above
    ``basket`` but at most 1.5 × ``basket`` (a nudge up); else, among those with ``min_spend``
    ≤ ``basket`` (none counts as 0), the largest discount on ``basket``; else none. Ties go to
    the candidate listed first."""
    def spend(v: dict) -> Decimal:
        return Decimal(str(v.get("min_spend") or 0))

    nudges = [v for v in candidates if basket < spend(v) <= basket * Decimal("1.5")]
    if nudges:
        return min(nudges, key=spend)
    usable = [v for v in candidates if spend(v) <= basket]
    if not usable:
        return None
    best = max(discount_on(v, basket) for v in usable)
    return next(v for v in usable if discount_on(v, basket) == best)
