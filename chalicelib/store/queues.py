"""Every SQS queue (with its DLQ), declared once, and the code that sends to them."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from chalicelib.settings import settings
from chalicelib.store.aws import client

MAX_RECEIVES = 5


@dataclass(frozen=True)
class QueueSpec:
    name: str
    visibility_timeout: int   # >= 6x the consuming function's timeout on AWS
    batch_size: int
    purpose: str


QUEUES: list[QueueSpec] = [
    QueueSpec("events", 180, 10, "ingested customer events for tag rules and automated triggers"),
    QueueSpec("dispatch", 900, 1, "plans whose send time came: audience snapshot -> chunks"),
    QueueSpec("delivery", 360, 10, "chunks of recipients of a plan to render and send"),
    QueueSpec("metrics", 180, 10, "counter facts folded into plan_stats"),
]


def spec(name: str) -> QueueSpec:
    return next(q for q in QUEUES if q.name == name)


_urls: dict[str, str] = {}


def url(short: str) -> str:
    if short not in _urls:
        _urls[short] = client("sqs").get_queue_url(QueueName=settings().queue_name(short))["QueueUrl"]
    return _urls[short]


def send_batch(short: str, bodies: list[dict[str, Any]]) -> None:
    """Send messages 10 at a time, retrying each entry SQS reports as failed."""
    sqs = client("sqs")
    for start in range(0, len(bodies), 10):
        entries = [{"Id": str(i), "MessageBody": json.dumps(b, separators=(",", ":"))}
                   for i, b in enumerate(bodies[start:start + 10])]
        for attempt in range(6):
            failed = sqs.send_message_batch(QueueUrl=url(short), Entries=entries).get("Failed", [])
            if not failed:
                break
            ids = {f["Id"] for f in failed}
            entries = [e for e in entries if e["Id"] in ids]
            time.sleep(0.05 * 2 ** attempt)
        else:
            raise RuntimeError(f"SQS refused {len(entries)} messages for {short}")


def create_all(local_visibility: int | None = None) -> dict[str, str]:
    """Create every queue and its DLQ (redrive after MAX_RECEIVES); returns name -> url."""
    sqs = client("sqs")
    cfg = settings()
    out = {}
    for q in QUEUES:
        dlq_url = sqs.create_queue(QueueName=cfg.queue_name(q.name + "-dlq"))["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        out[q.name] = sqs.create_queue(QueueName=cfg.queue_name(q.name), Attributes={
            "VisibilityTimeout": str(local_visibility or q.visibility_timeout),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn,
                                         "maxReceiveCount": str(MAX_RECEIVES)}),
        })["QueueUrl"]
        out[q.name + "-dlq"] = dlq_url
    return out


def depth(name: str) -> int:
    """Messages waiting in a queue (``delivery``, ``delivery-dlq``, ...), visible ones only."""
    got = client("sqs").get_queue_attributes(QueueUrl=url(name), AttributeNames=[
        "ApproximateNumberOfMessages"])["Attributes"]
    return int(got["ApproximateNumberOfMessages"])


def _delete(sqs: Any, queue_url: str, messages: list[dict]) -> None:
    for start in range(0, len(messages), 10):
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
            for i, m in enumerate(messages[start:start + 10])])


def redrive(short: str, limit: int | None = None, hold_seconds: int = 60) -> dict[str, int]:
    """Move the messages of ``short``'s DLQ back to ``short``, each once: receive a batch
    (hidden for ``hold_seconds``), send every body with its attributes to the source queue,
    and delete from the DLQ only what SQS accepted. A message this run already moved (SQS
    may deliver one twice, or its delete failed) is deleted without being sent again.

    The one window left, a crash after the send and before the delete, re-sends that
    message on the next run: every consumer is idempotent on the work a message points at
    (chunk claims, dispatch records, event ids, fact keys), so a second copy changes
    nothing. Returns {"moved", "skipped_duplicates"}."""
    sqs = client("sqs")
    source, dlq = url(short), url(short + "-dlq")
    moved_ids: set[str] = set()
    duplicates = 0
    while limit is None or len(moved_ids) < limit:
        room = 10 if limit is None else min(10, limit - len(moved_ids))
        got = sqs.receive_message(QueueUrl=dlq, MaxNumberOfMessages=room, WaitTimeSeconds=1,
                                  VisibilityTimeout=hold_seconds,
                                  MessageAttributeNames=["All"]).get("Messages", [])
        if not got:
            break
        fresh = [m for m in got if m["MessageId"] not in moved_ids]
        duplicates += len(got) - len(fresh)
        entries = {str(i): m for i, m in enumerate(fresh)}
        pending = [{"Id": i, "MessageBody": m["Body"],
                    **({"MessageAttributes": m["MessageAttributes"]}
                       if m.get("MessageAttributes") else {})} for i, m in entries.items()]
        for attempt in range(6):
            if not pending:
                break
            failed = {f["Id"] for f in sqs.send_message_batch(
                QueueUrl=source, Entries=pending).get("Failed", [])}
            moved_ids |= {entries[e["Id"]]["MessageId"] for e in pending if e["Id"] not in failed}
            pending = [e for e in pending if e["Id"] in failed]
            if pending:
                time.sleep(0.05 * 2 ** attempt)
        # Not sent: left in the DLQ (visible again after hold_seconds) for the next run.
        _delete(sqs, dlq, [m for m in got if m["MessageId"] in moved_ids])
    return {"moved": len(moved_ids), "skipped_duplicates": duplicates}
