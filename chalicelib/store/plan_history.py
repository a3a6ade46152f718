"""Plan history: an append-only log per plan of who did what to it and with what outcome
(today: every test send, refused ones included), newest first on read."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.store.base import BaseModel, meta, sorted_page
from chalicelib.store.deliveries import plan_pk

# Orders entries this process writes in the same millisecond; across processes the random
# part breaks ties.
_sequence = itertools.count()


class PlanHistoryItem(BaseModel):
    Meta = meta("plan_history")
    plan_key = UnicodeAttribute(hash_key=True)      # seller#plan
    sk = UnicodeAttribute(range_key=True)           # at (ms, 15 digits).sequence+random: an id, so it can be a cursor
    at = NumberAttribute()                          # ms, UTC
    actor = UnicodeAttribute()                      # the token's sub
    action = UnicodeAttribute()                     # test_send
    outcome = UnicodeAttribute()                    # delivered | failed | blocked | unsubscribed | rate_limited
    customer_id = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    message_id = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)            # refused attempts only: they age out


def record(seller_id: str, plan_id: str, at_ms: int, actor: str, action: str, outcome: str, *,
           customer_id: str | None = None, reason: str | None = None,
           message_id: str | None = None, keep_seconds: int | None = None) -> None:
    """Append one entry (``keep_seconds``: let DynamoDB's TTL drop it after that long)."""
    sk = f"{at_ms:015d}.{next(_sequence) % 10**9:09d}{uuid.uuid4().hex[:6]}"
    PlanHistoryItem(plan_key=plan_pk(seller_id, plan_id), sk=sk, at=at_ms, actor=actor,
                    action=action, outcome=outcome, customer_id=customer_id, reason=reason,
                    message_id=message_id,
                    expires_at=(datetime.fromtimestamp(at_ms / 1000, UTC)
                                + timedelta(seconds=keep_seconds)) if keep_seconds else None
                    ).save()


def page(seller_id: str, plan_id: str, limit: int, before: str | None
         ) -> tuple[list[dict[str, Any]], str | None]:
    """Entries newest first; ``before`` is the sort key the previous page ended at."""
    items, nxt = sorted_page(PlanHistoryItem, plan_pk(seller_id, plan_id), limit, before,
                             newest_first=True)
    return [{"at": int(i.at), "actor": i.actor, "action": i.action, "outcome": i.outcome,
             "customer_id": i.customer_id, "reason": i.reason, "message_id": i.message_id}
            for i in items], nxt
