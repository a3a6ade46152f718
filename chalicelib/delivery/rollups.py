"""The overview's rollups kept as facts arrive (docs/overview.md), exact under duplicates:
every counter moves in one transaction with a marker that proves its fact new
(``store.overview.apply``), so a chunk settled twice, a metrics message or an event
delivered twice, or a retry after a crash anywhere, counts once.

Three writers:
- ``fold_messages``: messages sent (one-off chunks when they settle, automated messages when
  the timer has sent them): the plan's send-day rollup, the day's distinct customers
  reached, and each customer's latest send time reached;
- ``fold_facts``: the engagement facts the metrics aggregator folds (reads, clicks and
  attributed orders of a delivered recipient): the day's distinct readers and clickers, the
  attributed orders and GMV of the order's day and of the message's send day, and each
  customer's latest send time read, clicked, ordered from;
- ``on_events`` (an events-queue subscriber): the shop's paid, unrefunded orders and GMV by
  the day each order was paid, a refund taking its order back off that day.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from chalicelib.delivery.chunks import Fact
from chalicelib.domain import aggregates
from chalicelib.domain import delivery as rules
from chalicelib.domain import overview as domain
from chalicelib.logs import get_logger, log
from chalicelib.store import overview as store
from chalicelib.store import shop_settings as shop_settings_store

logger = get_logger("delivery.rollups")
ORDER_ATTEMPTS = 10
# Fact key prefixes (delivery/engagement.py) the overview counts, and their metric.
TOUCHES = {"read": "read", "clicked": "clicked"}

Message = tuple[str, str, int, str]      # customer_id, message key, sent ms, status


def _zone(seller_id: str) -> str:
    return shop_settings_store.in_force(seller_id).timezone


def _day_target(seller_id: str, day: str, key: str) -> tuple[str, str]:
    return store.day_pk(seller_id), f"{day}#{domain.shard(key)}"


def _plan_target(seller_id: str, plan_id: str, day: str, key: str) -> tuple[str, str]:
    return store.sent_pk(seller_id), f"{day}#{plan_id}#{domain.shard(key)}"


def fold_messages(seller_id: str, plan_id: str, messages: list[Message], now_ms: int) -> int:
    """Messages of a plan that went out (delivered or failed; skipped ones are ignored).
    Returns how many facts were new."""
    sent = [m for m in messages if m[3] in (rules.DELIVERED, rules.FAILED)]
    if not sent:
        return 0
    zone = _zone(seller_id)
    ops: list[store.Op] = []
    for cid, key, sent_ms, status in sent:
        day = domain.local_day(sent_ms, zone)
        counted = "delivered" if status == rules.DELIVERED else "failed"
        ops.append(store.marker((store.marker_pk(seller_id, "msg", plan_id), key),
                                _plan_target(seller_id, plan_id, day, key), {counted: 1}, now_ms,
                                {"plan_id": plan_id}))
        if status != rules.DELIVERED:
            continue
        ops.append(store.marker((store.marker_pk(seller_id, "reached", day), cid),
                                _day_target(seller_id, day, cid), {"reached": 1}, now_ms))
        ops.append(store.raise_to((store.last_pk(seller_id, "reached"), cid), sent_ms))
    return _apply(seller_id, ops, "messages")


def fold_chunk(seller_id: str, plan_id: str, outcomes: list[dict], sent_at: int | None,
               now_ms: int) -> int:
    """A one-off plan's settled chunk: one message per recipient (its key the customer)."""
    if sent_at is None:
        return 0
    return fold_messages(seller_id, plan_id, [(o["customer_id"], o["customer_id"], int(sent_at),
                                               o["status"]) for o in outcomes], now_ms)


def fold_facts(seller_id: str, facts: list[Fact], now_ms: int) -> int:
    """Engagement facts (each from a delivered recipient; see engagement.py): reads and
    clicks per day and customer, attributed orders once per order."""
    known = [f for f in facts if f.customer_id and f.at is not None and f.sent_at is not None]
    if not known:
        return 0
    zone = _zone(seller_id)
    ops: list[store.Op] = []
    for fact in known:
        kind, _, _ = fact.key.partition(":")
        cid, at, sent_at = fact.customer_id, int(fact.at), int(fact.sent_at)
        day = domain.local_day(at, zone)
        if kind in TOUCHES:
            metric = TOUCHES[kind]
            ops.append(store.marker((store.marker_pk(seller_id, metric, day), cid),
                                    _day_target(seller_id, day, cid), {metric: 1}, now_ms))
            ops.append(store.raise_to((store.last_pk(seller_id, metric), cid), sent_at))
        elif kind == "order":
            order_id = fact.key.partition(":")[2]
            gmv = Decimal(str(fact.add.get("gmv", 0)))
            adds = {"orders": 1, "gmv": gmv}
            ops.append(store.marker((store.marker_pk(seller_id, "order", "day"), order_id),
                                    _day_target(seller_id, day, order_id), adds, now_ms))
            sent_day = domain.local_day(sent_at, zone)
            ops.append(store.marker((store.marker_pk(seller_id, "order", "plan"), order_id),
                                    _plan_target(seller_id, fact.plan_id, sent_day, order_id),
                                    adds, now_ms, {"plan_id": fact.plan_id}))
            ops.append(store.raise_to((store.last_pk(seller_id, "ordered"), cid), sent_at))
    return _apply(seller_id, ops, "engagement")


def _apply(seller_id: str, ops: list[store.Op], what: str) -> int:
    landed = store.apply(ops) if ops else []
    if landed:
        log(logger, "overview rollups", seller_id=seller_id, source=what, ops=len(ops),
            new=len(landed))
    return len(landed)


# ----- the shop's own orders --------------------------------------------------------------

def on_events(seller_id: str, events: list[dict], now: datetime) -> None:
    """Events-queue subscriber (services/reactions.py): paid and refunded orders."""
    orders = [e for e in events if e.get("type") in ("order_paid", "order_refunded")]
    if not orders:
        return
    zone = _zone(seller_id)
    now_ms = aggregates.to_ms(now)
    for event in orders:
        _shop_order(seller_id, event, zone, now_ms)


def _shop_order(seller_id: str, event: dict, zone: str, now_ms: int) -> None:
    """One paid or refunded order: read the order's state, write the move it calls for
    conditioned on that state (with the day's counters in the same transaction), again if
    the state moved meanwhile. A paid order counts on the day it was paid; a refund takes
    it off that day; a refund seen first means the payment, when it comes, counts nowhere.
    A second payment of an order counts nothing (its first holds)."""
    order_id = event["order_id"]
    key = (store.shop_order_pk(seller_id, order_id), order_id)
    expires = store.expires_at(now_ms)
    for _ in range(ORDER_ATTEMPTS):
        state = store.shop_order(seller_id, order_id)
        op = _order_move(seller_id, event, state, key, zone, expires)
        if op is None or store.apply([op]):
            return
    raise RuntimeError(f"order '{order_id}': its state kept moving")


def _order_move(seller_id: str, event: dict, state: dict[str, Any] | None,
                key: tuple[str, str], zone: str, expires: int) -> store.Op | None:
    paid = state is not None and "paid_day" in state
    refunded = state is not None and bool(state.get("refunded"))
    if event["type"] == "order_paid":
        if paid:
            return None
        day = domain.local_day(aggregates.to_ms(datetime.fromisoformat(event["occurred_at"])), zone)
        amount = Decimal(str(event["amount"]))
        sets = {"paid_day": day, "paid_amount": amount, "expires": expires}
        if refunded:    # refunded before we saw it paid: remembered, never counted
            return store.Op(key, "attribute_exists(refunded) AND attribute_not_exists(paid_day)",
                            sets)
        return store.Op(key, "attribute_not_exists(pk)", sets,
                        _day_target(seller_id, day, event["order_id"]),
                        {"shop_orders": 1, "shop_gmv": amount})
    if refunded:
        return None
    if not paid:
        return store.Op(key, "attribute_not_exists(pk)", {"refunded": True, "expires": expires})
    return store.Op(key, "attribute_exists(paid_day) AND attribute_not_exists(refunded)",
                    {"refunded": True},
                    _day_target(seller_id, state["paid_day"], event["order_id"]),
                    {"shop_orders": -1, "shop_gmv": -Decimal(str(state["paid_amount"]))})
