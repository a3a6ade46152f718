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
    # One message per seller per day, so a large seller cannot starve the others (its own
    # function gets a longer timeout in .chalice/config.json: 300 s, hence 6 x 300).
    QueueSpec("daily", 1800, 1, "one seller's daily tag rules for one day"),
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
