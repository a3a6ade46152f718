"""Sweeper of plans stuck ``in_progress`` (a scheduled job, every few minutes).

Sending now writes the status first, then enqueues the dispatch message; a process that
dies in between leaves a plan ``in_progress`` that nothing will ever dispatch. The sweeper
finds every plan ``in_progress`` for longer than ``STUCK_AFTER_MINUTES`` (one Query of the
plans table's sparse ``by_in_progress`` index) and looks at its dispatch record:

- none, ``ready``, or ``snapshotting`` with its lease run out: the dispatch never finished,
  so a dispatch message is enqueued again (dispatch is idempotent: a message that was
  only slow, or a sweep that overlaps another, costs one more no-op dispatch);
- ``enqueued`` with every chunk done: the plan's last status write was lost; the dispatch
  message finishes it;
- ``enqueued``, an A/B test past its decision time with its rest not released (a lost
  timer, a crash between the decision and the release): a decide message is queued
  (delivery/experiments.py; deciding and releasing are idempotent);
- ``enqueued`` with chunks still to do: in flight (or chunk messages in the delivery DLQ,
  which ``python -m chalicelib.ops redrive delivery`` moves back): left alone, reported.
"""

from __future__ import annotations

from datetime import datetime

from chalicelib.delivery import dispatch, experiments
from chalicelib.domain import aggregates
from chalicelib.logs import get_logger, log
from chalicelib.settings import settings
from chalicelib.store import plan_stats, plans

logger = get_logger("delivery.sweeper")

STUCK_AFTER_MINUTES = 10   # far above the seconds between a status write and its enqueue


def sweep(now: datetime, stuck_after_minutes: int = STUCK_AFTER_MINUTES,
          seller_id: str | None = None) -> dict[str, list[str]]:
    """Resume every stuck plan (of one seller, when given); returns plan ids by what was
    done (for logs and tests)."""
    only = seller_id
    now_ms = aggregates.to_ms(now)
    lease_ms = settings().delivery_lease_seconds * 1000
    out: dict[str, list[str]] = {"resumed": [], "in_flight": [], "dispatching": [], "ab_nudged": []}
    for seller_id, plan_id, since in plans.in_progress_before(now_ms - stuck_after_minutes * 60_000):
        if only is not None and seller_id != only:
            continue
        record = plan_stats.get_part(seller_id, plan_id, plan_stats.DISPATCH)
        state = record.get("state") if record else None
        if state == "snapshotting" and now_ms - int(record["started_at"]) < lease_ms:
            out["dispatching"].append(plan_id)
            continue
        if experiments.needs_nudge(record, now_ms):
            experiments.enqueue_decide(seller_id, plan_id)
            out["ab_nudged"].append(plan_id)
            log(logger, "a/b decision nudged", seller_id=seller_id, plan_id=plan_id)
            continue
        if state == "enqueued" and len(record.get("done_chunks", ())) < int(record.get("chunks", 0)):
            out["in_flight"].append(plan_id)
            log(logger, "plan still sending", seller_id=seller_id, plan_id=plan_id,
                since=since, chunks=int(record.get("chunks", 0)),
                done=len(record.get("done_chunks", ())))
            continue
        dispatch.enqueue(seller_id, plan_id)
        out["resumed"].append(plan_id)
        log(logger, "stuck plan resumed", seller_id=seller_id, plan_id=plan_id, since=since,
            dispatch_state=state)
    return out
