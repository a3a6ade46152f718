"""The local stack's own parts: SQS pollers (Lambda-shaped events, partial batch failures,
DLQ after 5 receives) and the scheduler emulator (fires due one-time schedules, deletes them)."""

from __future__ import annotations

import json
import time
import uuid
from datetime import UTC, datetime, timedelta

from chalicelib.local import pollers
from chalicelib.local.scheduler import due_at, fire_due
from chalicelib.settings import settings
from chalicelib.store import schedules
from chalicelib.store.aws import client


def _queue(aws, visibility: int = 1) -> tuple[str, str, str]:
    sqs = client("sqs")
    name = f"t-{uuid.uuid4().hex[:8]}"
    dlq = sqs.create_queue(QueueName=name + "-dlq")["QueueUrl"]
    dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    url = sqs.create_queue(QueueName=name, Attributes={
        "VisibilityTimeout": str(visibility),
        "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "5"})})["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return name, url, arn, dlq


def _depth(url: str) -> int:
    attrs = client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=[
        "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def test_the_poller_passes_lambda_shaped_records_and_keeps_only_reported_failures(aws, monkeypatch):
    monkeypatch.setattr(pollers, "RETRY_AFTER_SECONDS", 0)
    name, url, arn, _ = _queue(aws)
    sqs = client("sqs")
    for body in ("ok-1", "fail-1", "ok-2"):
        sqs.send_message(QueueUrl=url, MessageBody=body)
    seen = []

    def handler(event, context):
        seen.extend(r["body"] for r in event["Records"])
        assert all(r["eventSource"] == "aws:sqs" and r["eventSourceARN"] == arn
                   for r in event["Records"])
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]}
                                      for r in event["Records"] if r["body"].startswith("fail")]}

    poller = pollers.Poller(name, handler, 10, stop=None)
    got = 0
    for _ in range(5):
        got += poller.poll_once(sqs, url, arn)
        if set(seen) == {"ok-1", "fail-1", "ok-2"}:
            break
    time.sleep(0.1)
    assert sorted(set(seen)) == ["fail-1", "ok-1", "ok-2"]
    assert _depth(url) == 1                       # only the failed record is left


def test_a_message_failing_five_times_goes_to_the_dlq(aws, monkeypatch):
    monkeypatch.setattr(pollers, "RETRY_AFTER_SECONDS", 0)
    name, url, arn, dlq = _queue(aws, visibility=0)
    sqs = client("sqs")
    sqs.send_message(QueueUrl=url, MessageBody="poison")
    attempts = []

    def handler(event, context):
        attempts.append(len(event["Records"]))
        raise RuntimeError("always fails")

    poller = pollers.Poller(name, handler, 10, stop=None)
    for _ in range(12):
        poller.poll_once(sqs, url, arn)
    assert len(attempts) == 5
    assert _depth(url) == 0
    moved = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=10)["Messages"]
    assert [m["Body"] for m in moved] == ["poison"]


def test_the_app_registers_its_sqs_handlers_for_the_pollers(app):
    queues = [q for q, _, _ in pollers.sqs_handlers(app)]
    assert settings().queue_name("events") in queues


def test_due_at_reads_the_schedule_expression_in_its_time_zone():
    assert due_at("at(2026-11-23T20:00:00)", "Asia/Bangkok") == datetime(2026, 11, 23, 13, tzinfo=UTC)
    assert due_at("rate(5 minutes)", None) is None


def test_the_scheduler_emulator_fires_due_schedules_once_and_deletes_them(aws):
    name, url, arn, _ = _queue(aws)
    sched = client("scheduler")
    group = settings().scheduler_group
    now = datetime.now(UTC)

    def make(sname: str, when: datetime, action: str = "DELETE") -> None:
        sched.create_schedule(
            Name=sname, GroupName=group, ScheduleExpression=f"at({when:%Y-%m-%dT%H:%M:%S})",
            ScheduleExpressionTimezone="UTC", FlexibleTimeWindow={"Mode": "OFF"},
            ActionAfterCompletion=action,
            Target={"Arn": arn, "RoleArn": schedules.role_arn(),
                    "Input": json.dumps({"fired": sname})})

    tag = uuid.uuid4().hex[:6]
    make(f"due-{tag}", now - timedelta(seconds=5))
    make(f"later-{tag}", now + timedelta(hours=1))
    fire_due(now)
    fire_due(now)                                   # fired schedules are gone: nothing twice
    bodies = [json.loads(m["Body"]) for m in client("sqs").receive_message(
        QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])]
    assert bodies == [{"fired": f"due-{tag}"}]
    names = {s["Name"] for s in sched.list_schedules(GroupName=group)["Schedules"]}
    assert f"due-{tag}" not in names and f"later-{tag}" in names
    sched.delete_schedule(Name=f"later-{tag}", GroupName=group)
