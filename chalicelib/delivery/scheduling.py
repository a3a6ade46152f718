"""When a plan is sent for later: an EventBridge Scheduler one-time schedule whose target
is the dispatch queue, carrying the same message an immediate send enqueues."""

from __future__ import annotations

import hashlib
from datetime import datetime

from chalicelib.logs import get_logger, log
from chalicelib.settings import settings
from chalicelib.store import queues, schedules

logger = get_logger("delivery.scheduling")


def schedule_name(seller_id: str, plan_id: str) -> str:
    """Scheduler names allow [0-9A-Za-z-_.] up to 64 characters; ids may hold more, so
    the name is a hash of both (stable: cancel finds the schedule send made)."""
    return "plan-" + hashlib.sha256(f"{seller_id}#{plan_id}".encode()).hexdigest()[:40]


def schedule(seller_id: str, plan_id: str, send_at: datetime) -> None:
    """Dispatch the plan at ``send_at`` (any offset; the schedule is in UTC)."""
    schedules.put_one_time(schedule_name(seller_id, plan_id), send_at,
                           settings().dispatch_queue_arn or queues.arn("dispatch"),
                           {"seller_id": seller_id, "plan_id": plan_id})
    log(logger, "plan scheduled", seller_id=seller_id, plan_id=plan_id, send_at=send_at.isoformat())


def decision_name(seller_id: str, plan_id: str) -> str:
    """An A/B test's decision timer: its own schedule beside the plan's send schedule."""
    return "ab-" + hashlib.sha256(f"{seller_id}#{plan_id}".encode()).hexdigest()[:40]


def schedule_decision(seller_id: str, plan_id: str, at: datetime) -> None:
    """Put the A/B decide message on the dispatch queue at ``at`` (delivery/experiments.py)."""
    schedules.put_one_time(decision_name(seller_id, plan_id), at,
                           settings().dispatch_queue_arn or queues.arn("dispatch"),
                           {"seller_id": seller_id, "plan_id": plan_id, "step": "decide"})
    log(logger, "a/b decision scheduled", seller_id=seller_id, plan_id=plan_id, at=at.isoformat())


def unschedule_decision(seller_id: str, plan_id: str) -> None:
    schedules.delete(decision_name(seller_id, plan_id))


def unschedule(seller_id: str, plan_id: str) -> None:
    """Delete the plan's schedule; nothing happens when there is none."""
    if schedules.delete(schedule_name(seller_id, plan_id)):
        log(logger, "plan unscheduled", seller_id=seller_id, plan_id=plan_id)
