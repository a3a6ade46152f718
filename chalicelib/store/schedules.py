"""EventBridge Scheduler calls: one-time schedules that put a plan's dispatch message on the
dispatch queue at its send time (the local stack's emulator fires them against moto)."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from chalicelib.settings import settings
from chalicelib.store.aws import client

# Who may assume the role schedules send with: declared once, for infra and the local stack.
SCHEDULER_TRUST_POLICY = {"Version": "2012-10-17", "Statement": [{
    "Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"},
    "Action": "sts:AssumeRole"}]}


def put_one_time(name: str, at: datetime, target_arn: str, body: dict) -> None:
    """Create (or move) a one-time schedule ``at(...)`` in UTC that deletes itself once fired."""
    cfg = settings()
    scheduler = client("scheduler")
    utc = at.astimezone(UTC)
    role = role_arn()
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


_role_arn: dict[str, str] = {}


def role_arn() -> str:
    """The role the scheduler assumes to send to the dispatch queue: passed in by the template
    on AWS; in the offline stages the one the local stack created in moto."""
    cfg = settings()
    if cfg.scheduler_role_arn:
        return cfg.scheduler_role_arn
    name = cfg.scheduler_role_name
    if name not in _role_arn:
        _role_arn[name] = client("iam").get_role(RoleName=name)["Role"]["Arn"]
    return _role_arn[name]


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
