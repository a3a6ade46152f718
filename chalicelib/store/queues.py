"""Every SQS queue (with its DLQ), declared once, and the code that sends to them."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from chalicelib.settings import settings
from chalicelib.store.aws import client

MAX_RECEIVES = 5
# SQS's classic limits, which hold on every queue whatever its MaximumMessageSize: one
# message body, and all bodies of one SendMessageBatch together, at most 256 KiB; 10
# entries per batch. The local queues are created with this maximum so moto enforces it.
MAX_MESSAGE_BYTES = 262_144
MAX_BATCH_BYTES = 262_144
MAX_BATCH_ENTRIES = 10


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
    # One message per seller per day, so a large seller cannot starve the others (its own
    # function gets a longer timeout in .chalice/config.json: 300 s, hence 6 x 300).
    QueueSpec("daily", 1800, 1, "one seller's daily tag rules for one day"),
    # Lambda's on-failure destination of the customers stream's consumer: a batch it gave
    # up on; its handler rebuilds the snapshots of the sellers in it (300 s function, 6 x).
    QueueSpec("snapshot-failures", 1800, 1, "customer-stream batches the snapshot consumer "
                                            "gave up on: rebuild their sellers' snapshots"),
    # One audience export per message (docs/segments.md, "Audience export"): a large
    # segment's file is written here, not in its POST (300 s function, hence 6 x 300).
    QueueSpec("exports", 1800, 1, "audience exports too large to write during their POST"),
]


def spec(name: str) -> QueueSpec:
    return next(q for q in QUEUES if q.name == name)


_urls: dict[str, str] = {}


def url(short: str) -> str:
    if short not in _urls:
        _urls[short] = client("sqs").get_queue_url(QueueName=settings().queue_name(short))["QueueUrl"]
    return _urls[short]


_arns: dict[str, str] = {}


def arn(short: str) -> str:
    """The queue's ARN as SQS reports it (moto's account and region in the offline stages;
    on AWS the template passes the ARNs the code needs, see settings)."""
    if short not in _arns:
        _arns[short] = client("sqs").get_queue_attributes(
            QueueUrl=url(short), AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    return _arns[short]


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


def body_bytes(body: dict[str, Any]) -> int:
    """Size of a message body as ``send_batch`` sends it (ASCII JSON: bytes = characters)."""
    return len(_dumps(body))


def pack(items: list[Any], wrap: Callable[[list[Any]], dict[str, Any]],
         max_items: int) -> list[dict[str, Any]]:
    """Message bodies ``wrap(chunk)`` holding every item once, in order, each body at most
    ``MAX_MESSAGE_BYTES`` and ``max_items`` items. ValueError for an item that cannot fit
    even alone (callers refuse such items before storing anything)."""
    overhead = body_bytes(wrap([]))
    bodies: list[dict[str, Any]] = []
    chunk: list[Any] = []
    used = overhead
    for item in items:
        cost = len(_dumps(item)) + (1 if chunk else 0)          # the comma between items
        if chunk and (used + cost > MAX_MESSAGE_BYTES or len(chunk) == max_items):
            bodies.append(wrap(chunk))
            chunk, used, cost = [], overhead, cost - 1
        if overhead + cost > MAX_MESSAGE_BYTES:
            raise ValueError(f"an item of {cost} bytes cannot fit in one message")
        chunk.append(item)
        used += cost
    if chunk:
        bodies.append(wrap(chunk))
    return bodies


def batches(texts: list[str]) -> list[list[str]]:
    """Consecutive bodies grouped by at most 10 entries and ``MAX_BATCH_BYTES`` in all."""
    out: list[list[str]] = []
    total = 0
    for text in texts:
        if len(text) > MAX_MESSAGE_BYTES:
            raise ValueError(f"a message of {len(text)} bytes is over SQS's limit")
        if not out or len(out[-1]) == MAX_BATCH_ENTRIES or total + len(text) > MAX_BATCH_BYTES:
            out.append([])
            total = 0
        out[-1].append(text)
        total += len(text)
    return out


def send_batch(short: str, bodies: list[dict[str, Any]], delay_seconds: int = 0) -> None:
    """Send messages in batches within SQS's entry and byte limits, retrying each entry
    SQS reports as failed (``delay_seconds``: hidden that long first, at most 900)."""
    sqs = client("sqs")
    delay = {"DelaySeconds": delay_seconds} if delay_seconds else {}
    for texts in batches([_dumps(b) for b in bodies]):
        entries = [{"Id": str(i), "MessageBody": text, **delay} for i, text in enumerate(texts)]
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
            "MaximumMessageSize": str(MAX_MESSAGE_BYTES),
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
