"""Service metrics as CloudWatch EMF (Powertools Metrics): counters summed in the process and
written to stdout as one EMF document per dimension set when the invocation ends.

    metrics.count("events_ingested", 42)
    metrics.outcomes(recorded_outcomes)      # messages_sent / _failed / _skipped per channel
    metrics.flush()                          # app.py's middleware does this after every invocation

Every document carries the dimensions ``service`` and ``stage`` plus the ones given
(``channel`` for messages). Names and dimensions are in docs/operations.md.
"""

from __future__ import annotations

import json
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable
from typing import Any

from chalicelib.settings import settings

EVENTS_INGESTED = "events_ingested"
# A recorded delivery outcome's status -> the metric it counts in.
MESSAGE_METRICS = {"delivered": "messages_sent", "failed": "messages_failed",
                   "skipped": "messages_skipped"}

_lock = threading.Lock()
_pending: dict[tuple[tuple[str, str], ...], Counter[str]] = {}


def count(metric: str, value: int = 1, **dimensions: str) -> None:
    """Add ``value`` to a counter; written at the next ``flush``."""
    if value <= 0:
        return
    key = tuple(sorted(dimensions.items()))
    with _lock:
        _pending.setdefault(key, Counter())[metric] += value


def outcomes(rows: Iterable[dict]) -> None:
    """Count a chunk's recorded outcomes: one message per row, by status and channel."""
    tally: Counter[tuple[str, str]] = Counter()
    for row in rows:
        metric = MESSAGE_METRICS.get(row.get("status", ""))
        if metric is not None:
            tally[(metric, row.get("channel") or "unknown")] += 1
    for (metric, channel), n in tally.items():
        count(metric, n, channel=channel)


def documents() -> list[dict[str, Any]]:
    """The pending counters as EMF documents (and forget them)."""
    # Powertools Metrics costs the API's cold import (with Powertools' logging, about 40 ms:
    # python -X importtime); loaded when there is a counter to write.
    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

    with _lock:
        pending = dict(_pending)
        _pending.clear()
    cfg = settings()
    out = []
    for dims, counters in pending.items():
        emf = EphemeralMetrics(namespace=cfg.metrics_namespace, service=cfg.service)
        emf.add_dimension(name="stage", value=cfg.stage)
        for name, value in dims:
            emf.add_dimension(name=name, value=value)
        for metric, value in sorted(counters.items()):
            emf.add_metric(name=metric, unit=MetricUnit.Count, value=value)
        out.append(emf.serialize_metric_set())
    return out


def flush() -> int:
    """Write every pending counter to stdout (where Lambda's log agent reads EMF); returns how
    many documents were written."""
    if not _pending:
        return 0
    docs = documents()
    for doc in docs:
        sys.stdout.write(json.dumps(doc, separators=(",", ":")) + "\n")
    sys.stdout.flush()
    return len(docs)


def flush_after(event: Any, get_response: Callable[[Any], Any]) -> Any:
    """Chalice middleware (every event type): the invocation's metrics are written when it
    ends, whether it succeeded or raised, so none wait for (or leak into) the next one."""
    try:
        return get_response(event)
    finally:
        flush()
