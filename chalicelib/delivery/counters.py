"""Metrics aggregator (DESIGN.md flow 5): folds a batch of counter facts into plan_stats,
one guarded UpdateItem per (plan, part) however many facts the batch holds.

Each fact carries the key of the state change that produced it (a chunk's recorded
outcome, a customer's first read of a plan, an attributed order); a part remembers the
keys it folded, so a fact delivered twice, or re-sent after a crash, adds nothing. The
engagement facts then go to the overview's rollups (delivery/rollups.py), which keep their
own markers: a group that fails after its part is folded is redone harmlessly.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from chalicelib.delivery import rollups
from chalicelib.delivery.chunks import Fact, MetricsMessage
from chalicelib.domain import aggregates
from chalicelib.logs import get_logger, log
from chalicelib.store import plan_stats

logger = get_logger("delivery.counters")


def now() -> datetime:
    return datetime.now(UTC)


def handle_batch(event: Any) -> dict:
    """The metrics queue's handler: returns the partial batch response (only the records
    whose group failed come back; the others' facts are folded for good)."""
    raw = event.to_dict() if hasattr(event, "to_dict") else event
    groups: dict[tuple[str, str, str], dict[str, dict]] = defaultdict(dict)
    full: dict[tuple[str, str, str], list[Fact]] = defaultdict(list)
    members: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for record in raw.get("Records", []):
        try:
            message = MetricsMessage.model_validate_json(record["body"])
        except ValidationError:
            # A malformed message can never succeed: drop it loudly rather than loop to the DLQ.
            log(logger, "malformed metrics message dropped", message_id=record["messageId"])
            continue
        for fact in message.facts:
            group = (message.seller_id, fact.plan_id, fact.part)
            groups[group][fact.key] = fact.add
            full[group].append(fact)
            members[group].add(record["messageId"])
    failed: set[str] = set()
    for (seller_id, plan_id, part), facts in groups.items():
        try:
            plan_stats.apply_facts(seller_id, plan_id, part, facts)
            rollups.fold_facts(seller_id, full[(seller_id, plan_id, part)],
                               aggregates.to_ms(now()))
        except Exception:
            logger.exception("folding facts failed")
            failed |= members[(seller_id, plan_id, part)]
    return {"batchItemFailures": [{"itemIdentifier": m} for m in sorted(failed)]}
