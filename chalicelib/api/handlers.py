"""Queue and schedule handlers: each record processed on its own, failures reported per record
(Powertools batch processing turns them into ``batchItemFailures``)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any


def process_sqs(event: Any, record_handler: Callable[[str, datetime], None]) -> dict:
    """Run ``record_handler(body, now)`` per record; returns the partial batch response."""
    from aws_lambda_powertools.utilities.batch import (
        BatchProcessor,
        EventType,
        process_partial_response,
    )

    raw = event.to_dict() if hasattr(event, "to_dict") else event
    now = datetime.now(UTC)
    return process_partial_response(
        event=raw, record_handler=lambda record: record_handler(record.body, now),
        processor=BatchProcessor(event_type=EventType.SQS))
