"""Per-customer aggregates kept from events: pure, order-independent, bounded in size.

The aggregate document ``agg`` is a plain dict (stored as JSON on the customer item):

- ``orders``:  order_id -> {"paid": ms|None, "amount": "12.30"|None, "cur": str|None,
               "refunded": ms|None}. Exact, for any window up to 365 days.
- ``folded``:  orders paid more than 366 days ago, folded into lifetime figures
               ({"n", "total", "first", "last"}) so the document stays bounded.
- ``last``:    event type -> latest time seen (ms).
- ``recent``:  event type -> the K most recent times (ascending, exact).
- ``daily``:   event type -> {day: count} for times pushed out of ``recent``.
- ``plans``:   plan_id -> event type -> recent times (prior outreach per plan).
- ``cart`` / ``favs`` / ``pay``: current cart lines, favourites, started payments.
- ``ids``:     the last event ids applied (crash-safety between the customer write
               and the event-id record; see services/events.py).

Every update is a max, a set insert or a keyed upsert, so the same events in any
order give the same document (apart from pruning of data older than 366 days).
"""

from __future__ import annotations

from bisect import bisect_left, insort
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

DAY_MS = 86_400_000
KEEP_DAYS = 366
RECENT_PER_TYPE = 50
PER_PLAN = 10
MAX_CART = 200
MAX_PLANS = 200
ID_RING = 256
ORDER_TYPES = frozenset({"order_paid", "order_refunded", "payment_started"})


def empty() -> dict[str, Any]:
    return {"orders": {}, "folded": {"n": 0, "total": "0", "first": None, "last": None},
            "last": {}, "recent": {}, "daily": {}, "plans": {}, "cart": {}, "favs": {},
            "pay": {}, "ids": []}


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
        order = agg["orders"].setdefault(event.order_id, {"paid": None, "amount": None,
                                                          "cur": None, "refunded": None})
        if order["paid"] is None or ms < order["paid"]:
            order["paid"] = ms
        order["amount"], order["cur"] = str(event.amount), event.currency
        agg["pay"].pop(event.order_id, None)
        if ms > agg["last"].get(etype, -1):
            agg["last"][etype] = ms
        return
    if etype == "order_refunded":
        order = agg["orders"].setdefault(event.order_id, {"paid": None, "amount": None,
                                                          "cur": None, "refunded": None})
        if order["refunded"] is None or ms < order["refunded"]:
            order["refunded"] = ms
    elif etype == "payment_started":
        known = agg["orders"].get(event.order_id)
        if known is None or known["paid"] is None:
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
        if len(agg["plans"]) > MAX_PLANS:
            del agg["plans"][min(agg["plans"], key=lambda p: _plan_latest(agg["plans"][p]))]
    _add_time(agg, etype, ms)


def _plan_latest(per_plan: dict) -> int:
    return max((t[-1] for t in per_plan.values() if t), default=0)


def remember_ids(agg: dict, event_ids: list[str]) -> None:
    ring = agg["ids"]
    ring.extend(event_ids)
    del ring[:-ID_RING]


def prune(agg: dict, now_ms: int) -> None:
    """Drop what no rule can read any more (older than 366 days), folding old orders."""
    cutoff = now_ms - KEEP_DAYS * DAY_MS
    folded = agg["folded"]
    for oid in [o for o, v in agg["orders"].items()
                if max(v["paid"] or 0, v["refunded"] or 0) < cutoff]:
        order = agg["orders"].pop(oid)
        if order["paid"] is not None and order["refunded"] is None:
            folded["n"] += 1
            folded["total"] = str(Decimal(folded["total"]) + Decimal(order["amount"]))
            folded["first"] = min(x for x in (folded["first"], order["paid"]) if x is not None)
            folded["last"] = max(x for x in (folded["last"], order["paid"]) if x is not None)
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


def to_ms(moment: Any) -> int:
    return int(moment.timestamp() * 1000)


# ----- reading the aggregates -----------------------------------------------------------

def paid_orders(agg: dict) -> list[tuple[int, Decimal]]:
    """(paid time, amount) of orders that count: paid and not refunded, ascending."""
    return sorted((v["paid"], Decimal(v["amount"])) for v in agg["orders"].values()
                  if v["paid"] is not None and v["refunded"] is None)


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


def count_in_window(agg: dict, etype: str, since_ms: int, until_ms: int) -> int:
    """Events of one type with since <= t <= until; exact within the kept recent times,
    by whole days for the older overflow (only for types seen > 50 times in the window)."""
    times = agg["recent"].get(etype, [])
    n = bisect_left(times, until_ms + 1) - bisect_left(times, since_ms)
    buckets = agg["daily"].get(etype)
    if buckets:
        first_day = since_ms // DAY_MS
        n += sum(c for d, c in buckets.items() if int(d) >= first_day)
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
