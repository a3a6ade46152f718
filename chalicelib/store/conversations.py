"""Conversations: one item per customer and plan they replied to, holding their replies
(``message_replied`` events, keyed by event id so a redelivered event changes nothing), and
the sparse index ``by_latest`` that lists a seller's conversations newest reply first."""

from __future__ import annotations

import json
from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.store.base import BaseModel, get_or_none, meta
from chalicelib.store.versioning import conditional_save, retry_on_conflict

# Replies kept per conversation (the latest ones): bounded, whatever a customer sends, in
# count and in bytes (a DynamoDB item holds 400 KB; 2,000 Thai characters of text are 12 KB
# of escaped JSON).
MAX_REPLIES = 100
MAX_BYTES = 300_000


class ByLatest(GlobalSecondaryIndex):
    """A seller's conversations by their latest reply (``latest_key`` = µs, 18 digits, then
    the thread: unique, so it is a stable cursor)."""

    class Meta:
        index_name = "by_latest"
        projection = AllProjection()

    seller_id = UnicodeAttribute(hash_key=True)
    latest_key = UnicodeAttribute(range_key=True)


class ConversationItem(BaseModel):
    Meta = meta("conversations")
    seller_id = UnicodeAttribute(hash_key=True)
    thread = UnicodeAttribute(range_key=True)        # customer#plan (ids hold no '#')
    customer_id = UnicodeAttribute()
    plan_id = UnicodeAttribute()
    replies = JSONAttribute(default=dict)            # event_id -> [at µs, text | null]
    latest = NumberAttribute(default=0)              # µs of the latest reply (occurred_at exactly)
    latest_key = UnicodeAttribute()
    version = VersionAttribute()
    by_latest = ByLatest()


def thread_of(customer_id: str, plan_id: str) -> str:
    return f"{customer_id}#{plan_id}"


def add_replies(seller_id: str, customer_id: str, plan_id: str,
                replies: dict[str, tuple[int, str | None]]) -> bool:
    """Merge replies (event id -> (at µs since the epoch, text)) into the conversation; True when something
    changed. A read-modify-write conditioned on the version, so concurrent or repeated
    deliveries of the same events merge to the same item in any order."""
    thread = thread_of(customer_id, plan_id)

    def attempt(_: int) -> bool:
        item = get_or_none(ConversationItem, seller_id, thread) or ConversationItem(
            seller_id=seller_id, thread=thread, customer_id=customer_id, plan_id=plan_id,
            replies={}, latest=0, latest_key="")
        kept = dict(item.replies or {})
        fresh = {e: [at, text] for e, (at, text) in replies.items() if e not in kept}
        if not fresh:
            return False
        kept.update(fresh)
        kept = _bounded(kept)
        item.replies = kept
        item.latest = max(at for at, _ in kept.values())
        item.latest_key = f"{int(item.latest):018d}#{thread}"
        conditional_save(item, thread)
        return True

    return retry_on_conflict(attempt, what=f"conversation '{thread}'")


def _bounded(replies: dict[str, list]) -> dict[str, list]:
    """The latest replies (ties: by event id) within MAX_REPLIES and MAX_BYTES."""
    ordered = sorted(replies.items(), key=lambda kv: (kv[1][0], kv[0]))[-MAX_REPLIES:]
    size = sum(len(json.dumps(kv)) for kv in ordered)
    while size > MAX_BYTES and len(ordered) > 1:
        size -= len(json.dumps(ordered.pop(0)))
    return dict(ordered)


def page(seller_id: str, limit: int, before: str | None) -> tuple[list[ConversationItem], str | None]:
    """Newest reply first; ``before`` is the ``latest_key`` the previous page ended at."""
    condition = ConversationItem.latest_key < before if before else None
    items = list(ConversationItem.by_latest.query(
        seller_id, range_key_condition=condition, scan_index_forward=False, limit=limit + 1))
    more = len(items) > limit
    items = items[:limit]
    return items, (items[-1].latest_key if more and items else None)


def as_dict(item: ConversationItem) -> dict[str, Any]:
    return {"customer_id": item.customer_id, "plan_id": item.plan_id,
            "latest": int(item.latest),
            "replies": sorted(((int(at), text, e) for e, (at, text) in (item.replies or {}).items()))}
