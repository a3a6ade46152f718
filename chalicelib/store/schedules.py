"""EventBridge Scheduler calls: one-time schedules that put a plan's dispatch message on the
dispatch queue at its send time (the local stack's emulator fires them against moto)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from chalicelib.settings import settings
from chalicelib.store.aws import client


def put_one_time(name: str, at: datetime, target_arn: str, body: dict) -> None:
    """Create (or move) a one-time schedule ``at(...)`` in UTC that deletes itself once fired."""
    cfg = settings()
    scheduler = client("scheduler")
    utc = at.astimezone(UTC)
    role = cfg.scheduler_role_arn or f"arn:aws:iam::{cfg.account_id}:role/{cfg.prefix}scheduler-to-sqs"
    request = {
        "Name": name, "GroupName": cfg.scheduler_group,
        "ScheduleExpression": f"at({utc:%Y-%m-%dT%H:%M:%S})", "ScheduleExpressionTimezone": "UTC",
        "FlexibleTimeWindow": {"Mode": "OFF"}, "ActionAfterCompletion": "DELETE",
        "Target": {"Arn": target_arn, "RoleArn": role,
                   "Input": json.dumps(body, separators=(",", ":"))},
    }
    try:
        scheduler.create_schedule(**request)
    except scheduler.exceptions.ConflictException:
        # A re-send of the same plan: replace it (delete + create needs no UpdateSchedule
        # permission beyond what infra grants).
        delete(name)
        scheduler.create_schedule(**request)


def delete(name: str) -> bool:
    """Delete a schedule; False when there was none (already fired, or never made)."""
    scheduler = client("scheduler")
    try:
        scheduler.delete_schedule(Name=name, GroupName=settings().scheduler_group)
        return True
    except scheduler.exceptions.ResourceNotFoundException:
        return False


def get(name: str) -> dict | None:
    scheduler = client("scheduler")
    try:
        return scheduler.get_schedule(Name=name, GroupName=settings().scheduler_group)
    except scheduler.exceptions.ResourceNotFoundException:
        return None
