"""Scheduler emulator: moto stores EventBridge Scheduler schedules but never fires them.

Every second it reads each schedule of the group, and when its one-time ``at(...)`` is
due it sends the target ``Input`` to the target SQS queue, then deletes the schedule
when ``ActionAfterCompletion`` is DELETE (as AWS does).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from chalicelib.logs import get_logger, log
from chalicelib.settings import settings
from chalicelib.store.aws import client

logger = get_logger("local.scheduler")


def due_at(expression: str, timezone: str | None) -> datetime | None:
    if not expression.startswith("at(") or not expression.endswith(")"):
        return None
    naive = datetime.fromisoformat(expression[3:-1])
    return naive.replace(tzinfo=ZoneInfo(timezone or "UTC")).astimezone(UTC)


def fire_due(now: datetime) -> int:
    """Fire every due one-time schedule once; returns how many fired."""
    scheduler, sqs = client("scheduler"), client("sqs")
    group = settings().scheduler_group
    fired = 0
    names = [s["Name"] for page in scheduler.get_paginator("list_schedules").paginate(GroupName=group)
             for s in page.get("Schedules", [])]
    for name in names:
        try:
            sched = scheduler.get_schedule(Name=name, GroupName=group)
        except scheduler.exceptions.ResourceNotFoundException:
            continue
        when = due_at(sched["ScheduleExpression"], sched.get("ScheduleExpressionTimezone"))
        if when is None or when > now or sched.get("State") == "DISABLED":
            continue
        target = sched["Target"]
        queue_name = target["Arn"].rsplit(":", 1)[-1]
        url = sqs.get_queue_url(QueueName=queue_name)["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=target.get("Input", "{}"))
        if sched.get("ActionAfterCompletion") == "DELETE":
            scheduler.delete_schedule(Name=name, GroupName=group)
        fired += 1
        log(logger, "schedule fired", schedule=name, queue=queue_name)
    return fired


class SchedulerEmulator(threading.Thread):
    def __init__(self, stop: threading.Event, interval: float = 1.0) -> None:
        super().__init__(name="scheduler-emulator", daemon=True)
        self.stop, self.interval = stop, interval

    def run(self) -> None:
        while not self.stop.wait(self.interval):
            try:
                fire_due(datetime.now(UTC))
            except Exception:
                logger.exception("scheduler emulator pass failed")


def create_group() -> None:
    """The schedule group and the role schedules assume, as infra declares them; the code
    reads the role's ARN from moto (chalicelib.store.schedules.role_arn)."""
    import json

    from chalicelib.store.schedules import SCHEDULER_TRUST_POLICY

    cfg = settings()
    scheduler, iam = client("scheduler"), client("iam")
    try:
        scheduler.create_schedule_group(Name=cfg.scheduler_group)
    except scheduler.exceptions.ConflictException:
        pass
    try:
        iam.create_role(RoleName=cfg.scheduler_role_name,
                        AssumeRolePolicyDocument=json.dumps(SCHEDULER_TRUST_POLICY))
    except iam.exceptions.EntityAlreadyExistsException:
        pass
