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
    "chalicelib.services.catalog:on_events",
]


def publish(seller_id: str, events: list[dict]) -> None:
    bodies = [{"seller_id": seller_id, "events": events[i:i + EVENTS_PER_MESSAGE]}
              for i in range(0, len(events), EVENTS_PER_MESSAGE)]
    queues.send_batch("events", bodies)


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
