"""What happens after events are stored: tag rules, plan engagement counters, automated
triggers. Ingestion publishes the applied events to the ``events`` queue; the queue's
handler hands every batch to each subscriber below.

A subscriber is ``fn(seller_id: str, events: list[dict], now: datetime) -> None`` and must
be idempotent: SQS may deliver a message twice, and a failed batch is delivered again to
every subscriber.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from datetime import datetime

from chalicelib.store import queues

EVENTS_PER_MESSAGE = 50

# "module:function", imported when first needed (keeps the API's cold start light).
SUBSCRIBERS: list[str] = [
    "chalicelib.services.tag_rules:on_events",
    "chalicelib.delivery.engagement:on_events",
    "chalicelib.services.vouchers:on_events",
    "chalicelib.delivery.triggers:on_events",
    "chalicelib.services.conversations:on_events",
    "chalicelib.delivery.rollups:on_events",
]


def _body(seller_id: str) -> Callable[[list[dict]], dict]:
    return lambda chunk: {"seller_id": seller_id, "events": chunk}


def publish(seller_id: str, events: list[dict]) -> None:
    """Every event once, in as many messages (and batches) as SQS's size limits need."""
    queues.send_batch("events", queues.pack(events, _body(seller_id), EVENTS_PER_MESSAGE))


def publishable(seller_id: str, event: dict) -> bool:
    """Whether one event fits in a message alone (ingestion refuses one that does not)."""
    return queues.body_bytes(_body(seller_id)([event])) <= queues.MAX_MESSAGE_BYTES


def _subscribers() -> list[Callable]:
    out = []
    for ref in SUBSCRIBERS:
        module, _, name = ref.partition(":")
        out.append(getattr(importlib.import_module(module), name))
    return out


def handle_message(body: str, now: datetime) -> None:
    """One SQS record of the events queue: every subscriber sees its events."""
    message = json.loads(body)
    for subscriber in _subscribers():
        subscriber(message["seller_id"], message["events"], now)
