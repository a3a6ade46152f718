"""Automated-plan triggers: a subscriber of the events queue (services/reactions.py) that
turns ingested events into occurrences of the seller's active automated plans, and keeps
the product-interest index price drops fan out over.

Idempotent under redelivery: an occurrence is created once per key (a conditional put), a
newer cart event only moves a pending one later, and the interest index keeps maxima. The
occurrences themselves are what ``triggered`` counts, so an event handled twice (or a batch
retried after a crash) counts once.
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.delivery import live_fanout
from chalicelib.domain import aggregates
from chalicelib.domain import automated as rules
from chalicelib.logs import get_logger, log
from chalicelib.store import customers, interest, occurrences, plans

logger = get_logger("delivery.triggers")
INTEREST_TYPES = ("cart_added", "favorited")


def _ms(value: str) -> int:
    return aggregates.to_ms(datetime.fromisoformat(value))


def on_events(seller_id: str, events: list[dict], now: datetime) -> None:
    """Subscriber entry: interest index first, then every active plan's trigger."""
    now_ms = aggregates.to_ms(now)
    _note_interest(seller_id, events, now_ms)
    wanted = {rules.FIRES_ON[k] for k in rules.FIRES_ON}
    if not any(e.get("type") in wanted for e in events):
        return
    active = active_plans(seller_id, now_ms)
    if not active:
        return
    batch = _Batch(now_ms)
    seen: list[str] = []
    needs_agg = [e["customer_id"] for e in events if e.get("type") == "cart_added"]
    items = customers.batch_get(seller_id, sorted(set(needs_agg))) if needs_agg else {}
    for event in events:
        etype = event.get("type")
        if etype not in wanted:
            continue
        event = {**event, "occurred_ms": _ms(event["occurred_at"])}
        for plan in active:
            trigger = plan.trigger
            if rules.FIRES_ON[trigger["type"]] != etype:
                continue
            if etype == "price_dropped":
                _price_drop(plan, trigger, event, now_ms, batch)
            elif etype == "live_started":
                seen += _live(plan, trigger, event, now, now_ms)
            else:
                item = items.get(event["customer_id"])
                occ = rules.occurrence_for(trigger, event, item.agg if item else None, now_ms)
                if occ is not None:
                    batch.add(plan, occ)
    seen += batch.flush()
    if seen:
        log(logger, "occurrences seen", seller_id=seller_id, occurrences=len(seen))


def active_plans(seller_id: str, now_ms: int) -> list[plans.PlanItem]:
    """The seller's automated plans that are active now (inside or before their window; a
    plan whose window has ended is moved to ``ended``)."""
    out = []
    for entry in occurrences.registered(seller_id):
        plan = plans.get(seller_id, entry.plan_id)
        if plan is None or plan.status not in ("active", "paused"):
            continue
        window = (plan.extra or {}).get("window")
        if rules.has_ended(window, now_ms):
            end(plan, now_ms)
            continue
        if plan.status == "active" and plan.trigger:
            out.append(plan)
    return out


def end(plan: plans.PlanItem, now_ms: int) -> None:
    """Past window.end: the plan reads ``ended`` and leaves the registry."""
    if plans.set_status(plan.seller_id, plan.plan_id, {"active", "paused"}, "ended",
                        finished_at=now_ms, updated_at=now_ms):
        log(logger, "automated plan ended", seller_id=plan.seller_id, plan_id=plan.plan_id)
    occurrences.unregister(plan.seller_id, plan.plan_id)


class _Batch:
    """The occurrences one events message creates, written together per plan (many per
    request, store/transact.py); one item per key, the latest due time kept (carts)."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms
        self.plans: dict[str, tuple[plans.PlanItem, dict[str, occurrences.OccurrenceItem]]] = {}

    def add(self, plan: plans.PlanItem, occ: rules.Occurrence) -> None:
        items = self.plans.setdefault(plan.plan_id, (plan, {}))[1]
        kept = items.get(occ.key)
        if kept is None or kept.due_at < occ.due_ms:
            items[occ.key] = occurrences.new_item(
                plan.seller_id, plan.plan_id, occ.key, occ.customer_id, plan.trigger["type"],
                occ.due_ms, occ.data, self.now_ms)

    def flush(self) -> list[str]:
        seen: list[str] = []
        for plan, items in self.plans.values():
            seen += occurrences.upsert_all(list(items.values()), self.now_ms,
                                           extend=plan.trigger["type"] == "abandoned_cart")
        return seen


def _price_drop(plan: plans.PlanItem, trigger: dict, event: dict, now_ms: int,
                batch: _Batch) -> None:
    if not rules.price_drop_fires(trigger, event, now_ms):
        return
    product_id = event["product_id"]
    for row in interest.interested(plan.seller_id, product_id):
        if not rules.price_drop_interested(row.interest_at, row.paid_at, event["occurred_ms"]):
            continue
        batch.add(plan, rules.Occurrence(
            f"drop#{event['event_id']}#{row.customer_id}", row.customer_id,
            event["occurred_ms"], {"product_id": product_id, "new_price": str(event["new_price"])}))


def _live(plan: plans.PlanItem, trigger: dict, event: dict, now: datetime, now_ms: int
          ) -> list[str]:
    """One fan-out per LIVE: the audience is read and messaged in chunks when it is due
    (delivery/live_fanout.py), not here."""
    if not rules.is_fresh(event["occurred_ms"], now_ms):
        return []
    starts = _ms(event["starts_at"])
    if starts <= now_ms:
        return []
    due = rules.live_due(trigger, starts, event["occurred_ms"])
    return [live_fanout.create(plan, event["live_id"], starts, due, now_ms)]


def _note_interest(seller_id: str, events: list[dict], now_ms: int) -> None:
    rows = []
    for e in events:
        if e.get("type") in INTEREST_TYPES:
            rows.append((e["product_id"], e["customer_id"], "interest", _ms(e["occurred_at"])))
        elif e.get("type") == "order_paid":
            rows += [(pid, e["customer_id"], "paid", _ms(e["occurred_at"]))
                     for pid in e.get("product_ids") or []]
    fresh = [r for r in rows if r[3] >= now_ms - interest.INTEREST_DAYS * aggregates.DAY_MS]
    if fresh:
        interest.note_interest(seller_id, fresh, now_ms)
