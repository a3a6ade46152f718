"""Engagement subscriber (of the events queue): reads, clicks, replies, unsubscribes and
voucher claims/redemptions naming a plan, and paid orders attributed to a plan, become
counter facts for the metrics aggregator.

Only a recipient the plan really delivered to counts (test sends have no delivery row,
so they count nowhere). Each fact's key is once-per-customer-per-counter (or once per
order), and lives in the part of the recipient's chunk, so repeats add nothing.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from chalicelib.delivery.chunks import Fact, send_facts
from chalicelib.domain import aggregates, attribution
from chalicelib.domain import delivery as rules
from chalicelib.logs import get_logger, log
from chalicelib.store import deliveries, plan_stats

logger = get_logger("delivery.engagement")


def on_events(seller_id: str, events: list[dict], now: datetime) -> None:
    """Subscriber entry (see services/reactions.py): idempotent, a repeat changes nothing."""
    touches = [(e["plan_id"], e["customer_id"], rules.ENGAGEMENT_COUNTERS[e["type"]])
               for e in events if e.get("type") in rules.ENGAGEMENT_COUNTERS and e.get("plan_id")]
    orders = [e for e in events if e.get("type") == "order_paid"]
    if not touches and not orders:
        return
    facts: list[Fact] = []
    if touches:
        rows = deliveries.get_rows(seller_id, [(p, c) for p, c, _ in touches])
        for plan_id, cid, counter in touches:
            row = rows.get((plan_id, cid))
            if row is not None and row.status == rules.DELIVERED and row.chunk is not None:
                facts.append(Fact(plan_id=plan_id, part=plan_stats.chunk_part(int(row.chunk)),
                                  key=f"{counter}:{cid}", add={counter: 1}))
    if orders:
        facts.extend(_attribute(seller_id, orders))
    send_facts(seller_id, facts)
    if facts:
        log(logger, "engagement facts", seller_id=seller_id, facts=len(facts))


def _attribute(seller_id: str, orders: list[dict]) -> list[Fact]:
    """Each paid order -> the latest plan the customer read or clicked within the window
    before it (and that really delivered to them): orders +1, gmv +amount."""
    from chalicelib.services import shop_settings
    from chalicelib.store import customers

    window = shop_settings.get(seller_id).attribution_window_days
    items = customers.batch_get(seller_id, [o["customer_id"] for o in orders])
    wanted: dict[str, list[str]] = {}
    for order in orders:
        item = items.get(order["customer_id"])
        agg = (item.agg if item else None) or aggregates.empty()
        order_ms = aggregates.to_ms(datetime.fromisoformat(order["occurred_at"]))
        wanted[order["event_id"]] = attribution.candidates(agg.get("plans", {}), order_ms, window)
    pairs = [(p, o["customer_id"]) for o in orders for p in wanted[o["event_id"]]]
    rows = deliveries.get_rows(seller_id, pairs) if pairs else {}
    facts = []
    for order in orders:
        for plan_id in wanted[order["event_id"]]:
            row = rows.get((plan_id, order["customer_id"]))
            if row is None or row.status != rules.DELIVERED or row.chunk is None:
                continue
            facts.append(Fact(plan_id=plan_id, part=plan_stats.chunk_part(int(row.chunk)),
                              key=f"order:{order['order_id']}",
                              add={"orders": 1, "gmv": str(Decimal(str(order["amount"])))}))
            break
    return facts
