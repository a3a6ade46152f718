"""The demo shop's sent plan: "Thank loyal customers" to the loyal and repeat segments,
delivered through the real dispatch and worker code, then read, clicked and bought from,
so its performance has every figure. Loading again changes nothing (fixed plan id, fixed
event ids; a finished chunk is not sent twice)."""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

PLAN_ID = "demo-plan-thanks"
# How long a demo load waits on the stack (its pollers race it, on a loaded machine perhaps):
# generous, and a load that runs out stops with an error, never carries on half done.
LOAD_TIMEOUT_S = 240.0


def deliver(seller_id: str, plan_id: str, now: datetime, finished: Callable[[], bool],
            numbers: Callable[[], list[int]] | None = None,
            timeout: float = LOAD_TIMEOUT_S) -> None:
    """Dispatch and deliver synchronously until ``finished()`` (the local stack's pollers may
    race for the same plan and chunks: whoever claims first sends, the other backs off).
    ``numbers``: the chunks to work on (default every chunk of the plan). RuntimeError if
    ``finished()`` is still false after ``timeout`` seconds."""
    from chalicelib.delivery import dispatch, worker
    from chalicelib.store import deliveries

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:   # at the real time: a snapshot dated earlier would look abandoned to a poller
            dispatch.dispatch(seller_id, plan_id, datetime.now(UTC))
        except dispatch.DispatchBusy:   # a poller is snapshotting it: try again shortly
            time.sleep(0.5)
            continue
        for number in numbers() if numbers else deliveries.chunk_numbers(seller_id, plan_id):
            try:
                worker.deliver_chunk(seller_id, plan_id, number, now)
            except worker.ChunkBusy:
                continue
        if finished():
            return
        time.sleep(0.5)
    if not finished():
        raise RuntimeError(f"demo load timed out waiting for plan {plan_id} to be delivered "
                           f"(seller {seller_id}, {timeout:.0f} s)")


def _deliver(seller_id: str, now: datetime) -> str:
    from chalicelib.store import plans

    deliver(seller_id, PLAN_ID, now, lambda: plans.get(seller_id, PLAN_ID).status != "in_progress")
    return plans.get(seller_id, PLAN_ID).status


def _engagement(seller_id: str, now: datetime) -> list[dict[str, Any]]:
    """Reads by most recipients, clicks by some, a few replies and attributed orders."""
    from chalicelib.store import deliveries

    rows, after = [], None
    while True:
        page, after = deliveries.rows_page(seller_id, PLAN_ID, "delivered", 200, after)
        rows.extend(page)
        if after is None:
            break
    events: list[dict[str, Any]] = []

    def add(kind: str, cid: str, minutes: int, **extra: Any) -> None:
        at = now + timedelta(minutes=minutes)
        events.append({"event_id": f"demo-eng-{cid}-{kind}", "type": kind, "customer_id": cid,
                       "occurred_at": at.isoformat().replace("+00:00", "Z"), **extra})

    for index, row in enumerate(rows):
        cid = row.customer_id
        if index % 5 < 3:
            add("message_read", cid, 1, plan_id=PLAN_ID)
        if index % 4 == 0:
            add("message_clicked", cid, 2, plan_id=PLAN_ID)
        if index % 12 == 0:
            add("message_replied", cid, 3, plan_id=PLAN_ID)
        if index % 8 == 0:
            add("order_paid", cid, 4, order_id=f"demo-thanks-{cid}", amount="149.00",
                currency="THB", product_ids=["demo-p01"])
    return events


def load(seller_id: str, now: datetime) -> dict[str, Any]:
    from chalicelib.domain import aggregates
    from chalicelib.services import events
    from chalicelib.store import plans

    # Minutes in the past so the engagement that follows is not in the future.
    sent = now - timedelta(minutes=10)
    if plans.get(seller_id, PLAN_ID) is None:
        sent_ms = aggregates.to_ms(sent)
        plans.create(plans.PlanItem(
            seller_id=seller_id, plan_id=PLAN_ID, name="Thank you, loyal customers",
            kind="one_off", status="in_progress",
            audience={"segment_ids": ["loyal", "repeat"], "exclude_segment_ids": []},
            channels=["chat"], content={"template_id": "thank_you"}, product_ids=["demo-p01"],
            button={"type": "product_list"}, send_at=sent_ms, dispatched_at=sent_ms,
            created_at=sent_ms, updated_at=sent_ms, created_by="demo"))
    status = plans.get(seller_id, PLAN_ID).status
    if status == "in_progress":
        status = _deliver(seller_id, sent)
    engagement = _engagement(seller_id, sent)
    accepted = 0
    for start in range(0, len(engagement), 500):
        accepted += events.ingest(seller_id, engagement[start:start + 500], now)["accepted"]
    return {"plan_status": status, "plan_engagement_events": accepted}
