"""The shop's send-rate reservations: one item per seller holding the message counts of
the recent one-second buckets (domain/pacing.py), changed only by a write conditioned on
the version read, so concurrent workers can never both take the last of a second's room."""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, UnicodeAttribute, VersionAttribute

from chalicelib.domain import pacing as rules
from chalicelib.store.base import BaseModel, get_or_none, meta
from chalicelib.store.versioning import conditional_save, retry_on_conflict


class PaceItem(BaseModel):
    Meta = meta("send_pace")
    seller_id = UnicodeAttribute(hash_key=True)
    buckets = JSONAttribute(default=dict)            # epoch second -> messages counted in it
    version = VersionAttribute()


def reserve(seller_id: str, want: int, rate: int, now_ms: int) -> rules.Grant:
    """Count up to ``want`` messages of the shop in the current second (a read and one
    conditional write; a lost race is retried on the fresh item)."""

    def attempt(_: int) -> rules.Grant:
        item = get_or_none(PaceItem, seller_id) or PaceItem(seller_id=seller_id, buckets={})
        buckets = {int(s): int(n) for s, n in (item.buckets or {}).items()}
        grant, kept = rules.reserve(buckets, want, rate, now_ms // 1000)
        if grant.granted:
            item.buckets = {str(s): n for s, n in kept.items()}
            conditional_save(item, seller_id)
        return grant

    return retry_on_conflict(attempt, what=f"the send rate of '{seller_id}'")
