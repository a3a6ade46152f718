"""The demo shop's automated plan: an active thank-you plan with some history (a few paid
orders of the last hour, each one occurrence, sent by the real trigger and timer code).
Loading again changes nothing (fixed plan id, fixed event ids, one message per occurrence)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

PLAN_ID = "demo-plan-auto-thanks"
CUSTOMERS = [f"demo-c{i:04d}" for i in (3, 7, 11, 19, 23, 42)]


def load(seller_id: str, now: datetime) -> dict[str, Any]:
    from chalicelib.delivery import timers, triggers
    from chalicelib.domain import aggregates
    from chalicelib.services import events
    from chalicelib.store import occurrences, plans

    started = now - timedelta(hours=2)
    if plans.get(seller_id, PLAN_ID) is None:
        trigger = {"type": "thank_you", "delay_minutes": 0}
        occurrences.register(seller_id, PLAN_ID, trigger)
        at = aggregates.to_ms(started)
        plans.create(plans.PlanItem(
            seller_id=seller_id, plan_id=PLAN_ID, name="Thank you after every order",
            kind="automated", status="active", channels=["chat"], trigger=trigger,
            content={"template_id": "order_thank_you"}, button={"type": "product_list"},
            extra={"cooldown_hours": 24, "holdout_percent": 0}, dispatched_at=at,
            created_at=at, updated_at=at, created_by="demo"))
    orders = [{"event_id": f"demo-auto-{cid}", "type": "order_paid", "customer_id": cid,
               "order_id": f"demo-auto-{cid}", "amount": "99.00", "currency": "THB",
               "product_ids": ["demo-p01"],
               "occurred_at": (now - timedelta(minutes=50 - 5 * i)).isoformat()}
              for i, cid in enumerate(CUSTOMERS)]
    accepted = events.ingest(seller_id, orders, now)["accepted"]
    # The pollers would do this within seconds; done here so the demo's history is there at
    # once (both steps are idempotent, so the pollers doing it too changes nothing).
    triggers.on_events(seller_id, orders, now)
    sent = timers.sweep(now).get("delivered", 0)
    return {"automated_plan": PLAN_ID, "automated_orders": accepted, "automated_sent": sent}
