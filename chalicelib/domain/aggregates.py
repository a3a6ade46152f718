"""Per-customer aggregates kept from events: pure, order-independent, bounded in size.

The aggregate document ``agg`` is a plain dict (stored as JSON on the customer item):

- ``orders``:  order key -> [paid ms|None, "12.30"|None, refunded ms|None]. The key is a
               fixed-size digest of the order id (``order_key``), so long ids cost nothing
               extra. Exact, for any window up to 365 days. Refunds of orders not seen
               (yet) are kept too, the latest ``MAX_UNMATCHED_REFUNDS`` of them.
- ``folded``:  orders paid more than 366 days ago, folded into lifetime figures
               ({"n", "total", "first", "last"}) so the document stays bounded.
- ``last``:    event type -> latest time seen (ms).
- ``recent``:  event type -> the K most recent times (ascending, exact).
- ``daily``:   event type -> {day: count} for times pushed out of ``recent``.
- ``plans``:   plan_id -> event type -> recent times (prior outreach per plan).
- ``cart`` / ``favs`` / ``pay``: current cart lines, favourites, started payments.
- ``ids``:     ids of the events applied by the latest write whose ``events_seen`` marks
               may be missing: ingestion's exactly-once bookkeeping (docs/ingestion.md).

Every update is a max, a set insert or a keyed upsert, so the same events in any
order give the same document (apart from pruning of data older than 366 days).
``prune`` keeps the serialised document within ``MAX_BYTES`` whatever the history: past
the per-part caps it sheds the least needed data first (docs/ingestion.md, "Size").
"""

from __future__ import annotations

import base64
import hashlib
import json
from bisect import bisect_left, insort
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

DAY_MS = 86_400_000
KEEP_DAYS = 366
RECENT_PER_TYPE = 50
PER_PLAN = 10
MAX_CART = 200
MAX_PLANS = 200
MAX_UNMATCHED_REFUNDS = 1_000
# The serialised document stays within this many bytes: DynamoDB's item limit is 400 KB
# (moto refuses above 405,000 bytes), and the profile fields and tags need the rest.
MAX_BYTES = 320_000
PAID, AMOUNT, REFUNDED = 0, 1, 2      # positions in an order entry
ORDER_TYPES = frozenset({"order_paid", "order_refunded", "payment_started"})


def empty() -> dict[str, Any]:
    return {"orders": {}, "folded": {"n": 0, "total": "0", "first": None, "last": None},
            "last": {}, "recent": {}, "daily": {}, "plans": {}, "cart": {}, "favs": {},
            "pay": {}, "ids": []}


def order_key(order_id: str) -> str:
    """16 characters for any order id: 96 bits of BLAKE2b, so two ids of one customer
    collide with a probability below 1e-20."""
    digest = hashlib.blake2b(order_id.encode(), digest_size=12).digest()
    return base64.urlsafe_b64encode(digest).decode()


def upgrade(agg: dict) -> dict:
    """The document in the current layout (in place): orders written as dicts keyed by the
    raw order id become digest-keyed entries; missing parts are added."""
    orders = agg.get("orders") or {}
    if any(isinstance(v, dict) for v in orders.values()):
        agg["orders"] = {(order_key(k) if isinstance(v, dict) else k):
                         ([v["paid"], v["amount"], v["refunded"]] if isinstance(v, dict) else v)
                         for k, v in orders.items()}
    for name, default in empty().items():
        agg.setdefault(name, default)
    return agg


def order_rows(agg: dict) -> list:
    """(paid ms|None, amount|None, refunded ms|None) of every kept order, in either layout
    (documents not written since the layout changed are read as they are)."""
    return [(v["paid"], v["amount"], v["refunded"]) if isinstance(v, dict) else v
            for v in (agg.get("orders") or {}).values()]


def order_amount(agg: dict, order_id: str) -> Decimal | None:
    """The paid amount of one of the customer's kept orders (None: not seen paid)."""
    entry = upgrade(dict(agg)).get("orders", {}).get(order_key(order_id))
    return Decimal(entry[AMOUNT]) if entry and entry[AMOUNT] is not None else None


def _add_time(agg: dict, etype: str, ms: int) -> None:
    last = agg["last"]
    if ms > last.get(etype, -1):
        last[etype] = ms
    times = agg["recent"].setdefault(etype, [])
    insort(times, ms)
    if len(times) > RECENT_PER_TYPE:
        oldest = times.pop(0)
        day = str(oldest // DAY_MS)
        bucket = agg["daily"].setdefault(etype, {})
        bucket[day] = bucket.get(day, 0) + 1


def _bounded_put(mapping: dict, key: str, value: Any, limit: int, age: Any) -> None:
    mapping[key] = value
    if len(mapping) > limit:
        del mapping[min(mapping, key=lambda k: age(mapping[k]))]


def apply(agg: dict, event: Any) -> None:
    """Fold one validated customer event into the aggregate document (in place)."""
    ms = to_ms(event.occurred_at)
    etype = event.type
    if etype == "order_paid":
        order = agg["orders"].setdefault(order_key(event.order_id), [None, None, None])
        amount = str(event.amount)
        # The earliest payment of an order holds (a tie: the larger amount), in any order.
        if (order[PAID] is None or ms < order[PAID]
                or (ms == order[PAID] and Decimal(amount) > Decimal(order[AMOUNT]))):
            order[PAID], order[AMOUNT] = ms, amount
        agg["pay"].pop(event.order_id, None)
        if ms > agg["last"].get(etype, -1):
            agg["last"][etype] = ms
        return
    if etype == "order_refunded":
        order = agg["orders"].setdefault(order_key(event.order_id), [None, None, None])
        if order[REFUNDED] is None or ms < order[REFUNDED]:
            order[REFUNDED] = ms
    elif etype == "payment_started":
        known = agg["orders"].get(order_key(event.order_id))
        if known is None or known[PAID] is None:
            _bounded_put(agg["pay"], event.order_id, [ms, str(event.amount)], 100, lambda v: v[0])
    elif etype in ("cart_added", "cart_removed"):
        line = agg["cart"].get(event.product_id, [None, None])
        slot = 0 if etype == "cart_added" else 1
        if line[slot] is None or ms > line[slot]:
            line[slot] = ms
        _bounded_put(agg["cart"], event.product_id, line, MAX_CART, lambda v: max(x or 0 for x in v))
    elif etype == "favorited":
        if ms > agg["favs"].get(event.product_id, -1):
            _bounded_put(agg["favs"], event.product_id, ms, MAX_CART, lambda v: v)
    plan_id = getattr(event, "plan_id", None)
    if plan_id and etype in ("message_read", "message_clicked", "message_replied", "unsubscribed",
                             "voucher_claimed", "voucher_redeemed"):
        per_plan = agg["plans"].setdefault(plan_id, {})
        times = per_plan.setdefault(etype, [])
        insort(times, ms)
        del times[:-PER_PLAN]
        if len(agg["plans"]) > MAX_PLANS:   # the 200 most recent stay (a tie: by plan id)
            del agg["plans"][min(agg["plans"], key=lambda p: (_plan_latest(agg["plans"][p]), p))]
    _add_time(agg, etype, ms)


def _plan_latest(per_plan: dict) -> int:
    return max((t[-1] for t in per_plan.values() if t), default=0)


def _fold_order(folded: dict, order: list) -> None:
    """Count a paid, unrefunded order in the lifetime figures (a refunded one counts nowhere)."""
    if order[PAID] is None or order[REFUNDED] is not None:
        return
    folded["n"] += 1
    folded["total"] = str(Decimal(folded["total"]) + Decimal(order[AMOUNT]))
    folded["first"] = min(x for x in (folded["first"], order[PAID]) if x is not None)
    folded["last"] = max(x for x in (folded["last"], order[PAID]) if x is not None)


def prune(agg: dict, now_ms: int) -> None:
    """Drop what no rule can read any more (older than 366 days), folding old orders; cap
    the refunds of unknown orders; keep the whole document within ``MAX_BYTES``."""
    cutoff = now_ms - KEEP_DAYS * DAY_MS
    orders = agg["orders"]
    for key in [k for k, v in orders.items() if max(v[PAID] or 0, v[REFUNDED] or 0) < cutoff]:
        _fold_order(agg["folded"], orders.pop(key))
    # A refund whose order is unknown only waits for a late ``order_paid``: keep the latest.
    unmatched = [k for k, v in orders.items() if v[PAID] is None]
    if len(unmatched) > MAX_UNMATCHED_REFUNDS:
        unmatched.sort(key=lambda k: (orders[k][REFUNDED], k))
        for key in unmatched[:len(unmatched) - MAX_UNMATCHED_REFUNDS]:
            del orders[key]
    cutoff_day = cutoff // DAY_MS
    for times in agg["recent"].values():
        del times[:bisect_left(times, cutoff)]
    for buckets in agg["daily"].values():
        for day in [d for d in buckets if int(d) < cutoff_day]:
            del buckets[day]
    for plan_id in [p for p, v in agg["plans"].items() if _plan_latest(v) < cutoff]:
        del agg["plans"][plan_id]
    agg["recent"] = {k: v for k, v in agg["recent"].items() if v}
    agg["daily"] = {k: v for k, v in agg["daily"].items() if v}
    for name in ("cart", "favs"):
        agg[name] = {k: v for k, v in agg[name].items()
                     if (max(x or 0 for x in v) if isinstance(v, list) else v) >= cutoff}
    fit(agg, MAX_BYTES)


# ----- the size budget ------------------------------------------------------------------

def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def size(agg: dict) -> int:
    """Bytes of the document as the customers table stores it (compact, ASCII JSON)."""
    return len(_dumps(agg))


def _entry(key: str, value: Any) -> int:
    return len(_dumps(key)) + len(_dumps(value)) + 2     # "key":value,


def _shed_oldest(mapping: dict, age: Callable[[Any], Any], excess: int,
                 on_drop: Callable[[Any], None] = lambda _v: None) -> int:
    freed = 0
    for key in sorted(mapping, key=lambda k: (age(mapping[k]), k)):
        if freed >= excess:
            break
        value = mapping.pop(key)
        on_drop(value)
        freed += _entry(key, value)
    return freed


def _shed_unread(agg: dict, excess: int) -> int:
    """Started payments, cart lines and favourites: no rule reads them yet."""
    freed = _shed_oldest(agg["pay"], lambda v: v[0], excess)
    freed += _shed_oldest(agg["cart"], lambda v: max(x or 0 for x in v), excess - freed)
    return freed + _shed_oldest(agg["favs"], lambda v: v, excess - freed)


def _shed_unmatched_refunds(agg: dict, excess: int) -> int:
    orders = agg["orders"]
    waiting = {k: v for k, v in orders.items() if v[PAID] is None}
    freed = _shed_oldest(waiting, lambda v: v[REFUNDED], excess)
    for key in [k for k in orders if orders[k][PAID] is None and k not in waiting]:
        del orders[key]
    return freed


def _shed_daily(agg: dict, excess: int) -> int:
    cells = sorted((int(day), etype) for etype, days in agg["daily"].items() for day in days)
    freed = 0
    for day, etype in cells:
        if freed >= excess:
            break
        buckets = agg["daily"][etype]
        freed += _entry(str(day), buckets.pop(str(day)))
        if not buckets:
            del agg["daily"][etype]
            freed += len(_dumps(etype)) + 4
    return freed


def _shed_plans(agg: dict, excess: int) -> int:
    return _shed_oldest(agg["plans"], _plan_latest, excess)


def _shed_orders(agg: dict, excess: int) -> int:
    """The oldest paid orders leave the exact list; unrefunded ones still count for life."""
    paid = {k: v for k, v in agg["orders"].items() if v[PAID] is not None}
    freed = _shed_oldest(paid, lambda v: v[PAID], excess,
                         lambda v: _fold_order(agg["folded"], v))
    agg["orders"] = {k: v for k, v in agg["orders"].items() if v[PAID] is None or k in paid}
    return freed


# Cheapest loss first. Never shed: ``ids`` (exactly-once), ``last``, ``recent``, ``folded``;
# bounded by their caps, they alone stay far below the budget.
_SHEDDERS = (_shed_unread, _shed_unmatched_refunds, _shed_daily, _shed_plans, _shed_orders)


def fit(agg: dict, limit: int) -> None:
    """Shed data, cheapest loss first, until the serialised document is at most ``limit``
    bytes. Only a history far past every cap reaches this (docs/ingestion.md)."""
    while (excess := size(agg) - limit) > 0:
        freed = 0
        for shed in _SHEDDERS:
            freed += shed(agg, excess - freed)
            if freed >= excess:
                break
        if not freed:
            return


def to_ms(moment: Any) -> int:
    return int(moment.timestamp() * 1000)


def iso(moment: datetime | date | int | float | Decimal | None) -> str | None:
    """The one way the service writes a moment: ISO 8601, UTC as ``Z``
    (``2024-05-01T09:30:00Z``). Takes a datetime or date, or milliseconds since the epoch
    as stored (int, or the Decimal DynamoDB returns); None stays None."""
    if moment is None:
        return None
    if not isinstance(moment, date):
        moment = datetime.fromtimestamp(float(moment) / 1000, UTC)
    return moment.isoformat().replace("+00:00", "Z")


# ----- reading the aggregates -----------------------------------------------------------

def paid_orders(agg: dict) -> list[tuple[int, Decimal]]:
    """(paid time, amount) of orders that count: paid and not refunded, ascending."""
    return sorted((paid, Decimal(amount)) for paid, amount, refunded in order_rows(agg)
                  if paid is not None and refunded is None)


@dataclass(frozen=True)
class Stats:
    order_count: int
    total_paid: Decimal
    first_order_at: int | None
    last_order_at: int | None


def stats(agg: dict) -> Stats:
    orders = paid_orders(agg)
    folded = agg["folded"]
    times = [t for t, _ in orders] + [t for t in (folded["first"], folded["last"]) if t is not None]
    return Stats(order_count=folded["n"] + len(orders),
                 total_paid=Decimal(folded["total"]) + sum((a for _, a in orders), Decimal("0")),
                 first_order_at=min(times) if times else None,
                 last_order_at=max(times) if times else None)


def whole_days(since_ms: int, until_ms: int) -> tuple[int, int]:
    """(first, last) UTC day numbers of the days lying wholly inside [since, until]: the
    only ``daily`` buckets a window counts (API.md "Exactness of windows"; first > last when
    there is none)."""
    return -(-since_ms // DAY_MS), (until_ms + 1) // DAY_MS - 1


def count_in_window(agg: dict, etype: str, since_ms: int, until_ms: int) -> int:
    """Events of one type with since <= t <= until: exact within the kept recent times; of
    the older overflow, only the days lying wholly inside the window count (a partial day
    at an edge never does)."""
    times = agg["recent"].get(etype, [])
    n = bisect_left(times, until_ms + 1) - bisect_left(times, since_ms)
    buckets = agg["daily"].get(etype)
    if buckets:
        first_day, last_day = whole_days(since_ms, until_ms)
        n += sum(c for d, c in buckets.items() if first_day <= int(d) <= last_day)
    return n


def follow_state(agg: dict) -> tuple[bool, int | None]:
    """(follows now, since when): the first follow after the latest unfollow."""
    unfollowed = agg["last"].get("unfollowed", -1)
    follows = [t for t in agg["recent"].get("followed", []) if t > unfollowed]
    if not follows:
        last_follow = agg["last"].get("followed", -1)
        return (True, last_follow) if last_follow > unfollowed else (False, None)
    return True, follows[0]


def is_blocked(agg: dict) -> bool:
    return agg["last"].get("blocked", -1) >= agg["last"].get("unblocked", 0) and "blocked" in agg["last"]


def is_unsubscribed(agg: dict) -> bool:
    return "unsubscribed" in agg["last"]
