"""Engagement subscriber (of the events queue): reads, clicks, replies, unsubscribes and
voucher claims/redemptions naming a plan, and paid orders attributed to a plan, become
counter facts for the metrics aggregator.

Only a recipient the plan really delivered to counts (test sends have no delivery row,
so they count nowhere). Each fact's key is once-per-customer-per-counter (or once per
order), and lives in the part of the recipient's chunk, so repeats add nothing.

Early engagement: a customer may read a message before the worker has written its
delivery row (the channel returned, the chunk's outcome or rows are not written yet).
When a plan is still in flight (its dispatch record shows chunks not done), a fact whose
row is missing is parked (``deliveries.park``) and the rows are read once more; the
worker's follow-up writes the rows and only then reads what is parked. Whichever order the
two interleave in, at least one of them sees the other, and the fact's key makes a fact
seen by both count once.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from chalicelib.delivery.chunks import Fact, send_facts
from chalicelib.domain import aggregates, attribution
from chalicelib.domain import delivery as rules
from chalicelib.logs import get_logger, log
from chalicelib.store import customers, deliveries, plan_stats
from chalicelib.store import shop_settings as shop_settings_store

logger = get_logger("delivery.engagement")

Wanted = tuple[str, str, str, dict[str, Any]]   # plan_id, customer_id, fact key, {counter: n}
Pair = tuple[str, str]                            # plan_id, customer_id


def on_events(seller_id: str, events: list[dict], now: datetime) -> None:
    """Subscriber entry (see services/reactions.py): idempotent, a repeat changes nothing."""
    touches = [(e["plan_id"], e["customer_id"], rules.ENGAGEMENT_COUNTERS[e["type"]])
               for e in events if e.get("type") in rules.ENGAGEMENT_COUNTERS and e.get("plan_id")]
    # When each fact's event happened (the overview buckets it by day): the earliest of a key.
    when: dict[tuple[str, str], int] = {}      # (plan_id or "" for orders, fact key) -> ms
    for e in events:
        counter = rules.ENGAGEMENT_COUNTERS.get(e.get("type", "")) if e.get("plan_id") else None
        slot = (e["plan_id"], f"{counter}:{e.get('customer_id')}") if counter else (
            ("", f"order:{e.get('order_id')}") if e.get("type") == "order_paid" else None)
        if slot is not None:
            ms = aggregates.to_ms(datetime.fromisoformat(e["occurred_at"]))
            when[slot] = min(ms, when.get(slot, ms))
    orders = [e for e in events if e.get("type") == "order_paid"]
    if not touches and not orders:
        return
    candidates = _order_candidates(seller_id, orders) if orders else {}
    pairs = [(p, c) for p, c, _ in touches] + [
        (p, o["customer_id"]) for o in orders for p in candidates[o["event_id"]]]
    rows = deliveries.get_rows(seller_id, pairs) if pairs else {}
    in_flight = _in_flight(seller_id, {p for p in pairs if p not in rows}, rows)
    wanted = [(p, c, f"{counter}:{c}", {counter: 1}) for p, c, counter in touches]
    wanted += _attribute(orders, candidates, rows, in_flight)
    facts, early = [], []
    for plan_id, cid, key, add in wanted:
        row = rows.get((plan_id, cid))
        if row is not None:
            if _delivered(row):
                facts.append(_fact(plan_id, row, key, add, cid, _when(when, plan_id, key)))
        elif plan_id in in_flight:
            early.append((plan_id, cid, key, add))
    if early:
        facts.extend(_park(seller_id, early, aggregates.to_ms(now), when))
    send_facts(seller_id, facts)
    if facts or early:
        log(logger, "engagement facts", seller_id=seller_id, facts=len(facts), parked=len(early))


def _fact(plan_id: str, row: deliveries.DeliveryRow, key: str, add: dict[str, Any], cid: str,
          at: int | None) -> Fact:
    """The fact of a delivered recipient's row, with what the overview needs (rollups.py)."""
    return Fact(plan_id=plan_id, part=plan_stats.chunk_part(int(row.chunk)), key=key, add=add,
                customer_id=cid, at=at, sent_at=int(row.sent_at) if row.sent_at is not None else None)


def _when(when: dict[tuple[str, str], int], plan_id: str, key: str) -> int | None:
    return when.get((plan_id, key), when.get(("", key)))


def _delivered(row: deliveries.DeliveryRow) -> bool:
    return row.status == rules.DELIVERED and row.chunk is not None


def _in_flight(seller_id: str, missing: set[Pair], rows: dict) -> set[str]:
    """Plans (of the pairs whose row is missing) still sending: their dispatch record exists
    and not every chunk is done, so a missing row may yet be written. A plan never dispatched
    or already complete writes no more rows: its missing pairs are read once more (a row may
    have landed since the first read) and otherwise never count."""
    flying, settled = set(), []
    for plan_id in sorted({p for p, _ in missing}):
        record = plan_stats.get_part(seller_id, plan_id, plan_stats.DISPATCH)
        if record is None:
            continue
        complete = record.get("state") == "enqueued" and len(
            record.get("done_chunks", ())) >= int(record.get("chunks", 0))
        if complete:
            settled.append(plan_id)
        else:
            flying.add(plan_id)
    again = [pair for pair in missing if pair[0] in settled]
    if again:
        rows.update(deliveries.get_rows(seller_id, again))
    return flying


def _park(seller_id: str, early: list[Wanted], now_ms: int,
          when: dict[tuple[str, str], int]) -> list[Fact]:
    """Park facts whose rows are missing, then look at the rows again: a row written before
    the park is seen now; one written after it finds the parked fact (see ``fold_early``)."""
    deliveries.park(seller_id, early, now_ms)
    rows = deliveries.get_rows(seller_id, [(p, c) for p, c, _, _ in early])
    out = []
    for plan_id, cid, key, add in early:
        row = rows.get((plan_id, cid))
        if row is not None and _delivered(row):
            out.append(_fact(plan_id, row, key, add, cid, _when(when, plan_id, key)))
    return out


def fold_early(chunk: deliveries.ChunkItem) -> tuple[list[Fact], list[deliveries.EarlyFact]]:
    """For a finished chunk whose rows are written: the parked facts of its delivered
    recipients, as facts of the chunk's part, and every parked item of its recipients (to
    unpark once the facts are sent)."""
    parked = deliveries.parked(chunk.seller_id, chunk.plan_id)
    if not parked:
        return [], []
    recipients = set(chunk.recipients or [])
    delivered = {o["customer_id"] for o in chunk.outcomes or [] if o["status"] == rules.DELIVERED}
    mine = [p for p in parked if p.customer_id in recipients]
    part = plan_stats.chunk_part(int(chunk.chunk))
    # The overview's day of a parked fact: when it was parked (the event's own time is not
    # kept; parking happens only while the plan sends, so it is within moments of it).
    facts = [Fact(plan_id=chunk.plan_id, part=part, key=p.key, add=dict(p.add),
                  customer_id=p.customer_id, at=int(p.at) if p.at is not None else chunk.sent_at,
                  sent_at=chunk.sent_at)
             for p in mine if p.customer_id in delivered]
    return facts, mine


def _order_candidates(seller_id: str, orders: list[dict]) -> dict[str, list[str]]:
    """Per order event: the plans that may take credit, best first (attribution.candidates)."""
    window = shop_settings_store.in_force(seller_id).attribution_window_days
    items = customers.batch_get(seller_id, [o["customer_id"] for o in orders])
    out: dict[str, list[str]] = {}
    for order in orders:
        item = items.get(order["customer_id"])
        agg = (item.agg if item else None) or aggregates.empty()
        order_ms = aggregates.to_ms(datetime.fromisoformat(order["occurred_at"]))
        out[order["event_id"]] = attribution.candidates(agg.get("plans", {}), order_ms, window)
    return out


def _attribute(orders: list[dict], candidates: dict[str, list[str]], rows: dict,
               in_flight: set[str]) -> list[Wanted]:
    """Each paid order -> the latest plan the customer read or clicked within the window
    before it that really delivered to them (or that is still sending to them: its row may
    not be written yet): orders +1, gmv +amount."""
    out: list[Wanted] = []
    for order in orders:
        cid = order["customer_id"]
        for plan_id in candidates[order["event_id"]]:
            row = rows.get((plan_id, cid))
            if (row is not None and _delivered(row)) or (row is None and plan_id in in_flight):
                out.append((plan_id, cid, f"order:{order['order_id']}",
                            {"orders": 1, "gmv": str(Decimal(str(order["amount"])))}))
                break
    return out
