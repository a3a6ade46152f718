"""Queue and schedule handlers: each record processed on its own, failures reported per record
(Powertools batch processing turns them into ``batchItemFailures``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from chalicelib.logs import context, get_logger

logger = get_logger("queues")
CONTEXT_KEYS = ("seller_id", "plan_id")


def record_ids(body: str) -> dict[str, str]:
    """The seller and plan a record is about (every line logged while it runs carries them)."""
    try:
        data = json.loads(body)
    except ValueError:
        return {}
    if not isinstance(data, dict):
        return {}
    return {k: data[k] for k in CONTEXT_KEYS if isinstance(data.get(k), str)}


def process_sqs(event: Any, record_handler: Callable[[str, datetime], None]) -> dict:
    """Run ``record_handler(body, now)`` per record; returns the partial batch response."""
    # On first use: only the queue functions need it, and it adds ~40 ms to app.py's import.
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    raw = event.to_dict() if hasattr(event, "to_dict") else event
    now = datetime.now(UTC)

    def one(record: Any) -> None:
        with context(**record_ids(record.body)):
            try:
                record_handler(record.body, now)
            except Exception as exc:
                # The batch processor keeps the exception to itself; say which record failed.
                logger.warning("queue record failed; it comes back", exc_info=exc,
                               extra={"fields": {"message_id": record.message_id}})
                raise

    return process_partial_response(event=raw, record_handler=one,
                                    processor=BatchProcessor(event_type=EventType.SQS))
