"""Tags: definitions, name claims (uniqueness), usage by plans, and the audit log.
Assignments live on the customer item as tag ids, so a rename keeps every assignment."""

from __future__ import annotations

import itertools
import uuid
from functools import partial
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, VersionAttribute

from chalicelib.store.base import BaseModel, get_or_none, landed, meta, sorted_page
from chalicelib.store.versioning import VersionConflict, retry_on_conflict


class TagItem(BaseModel):
    Meta = meta("tags")
    seller_id = UnicodeAttribute(hash_key=True)
    tag_id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    norm = UnicodeAttribute()               # name folded for uniqueness
    dimension = UnicodeAttribute()
    color = UnicodeAttribute()
    kind = UnicodeAttribute(default="static")
    description = UnicodeAttribute(null=True)
    created_at = NumberAttribute(default=0)
    updated_at = NumberAttribute(default=0)
    created_by = UnicodeAttribute(null=True)
    version = VersionAttribute()


class TagNameClaim(BaseModel):
    """One item per folded name: a conditional put makes names unique per seller even when
    two admins create "Paid" and "paid " at the same moment."""
    Meta = meta("tag_names")
    seller_id = UnicodeAttribute(hash_key=True)
    norm = UnicodeAttribute(range_key=True)
    tag_id = UnicodeAttribute()


class TagUsage(BaseModel):
    """When a plan last sent with the tag in its audience (kept apart from TagItem so a send
    does not bump the tag's version and fail an admin's If-Match)."""
    Meta = meta("tag_usage")
    seller_id = UnicodeAttribute(hash_key=True)
    tag_id = UnicodeAttribute(range_key=True)
    last_used_at = NumberAttribute()


class TagAuditItem(BaseModel):
    Meta = meta("tag_audit")
    seller_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)   # at ms # sequence + random: newest first by sk
    at = NumberAttribute()
    actor = UnicodeAttribute()
    action = UnicodeAttribute()             # created | renamed | updated | deleted | added | removed
    tag = UnicodeAttribute()                # the tag's name when it happened
    tag_id = UnicodeAttribute()
    customer_id = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)


class Taken(Exception):
    """The folded name already belongs to another tag."""

    def __init__(self, tag_id: str) -> None:
        super().__init__(tag_id)
        self.tag_id = tag_id


# ----- tags -------------------------------------------------------------------------------

def all_tags(seller_id: str) -> list[TagItem]:
    return list(TagItem.query(seller_id, consistent_read=True))


def names_by_id(seller_id: str, ids: set[str] | None = None) -> dict[str, str]:
    return {t.tag_id: t.name for t in all_tags(seller_id) if ids is None or t.tag_id in ids}


def get(seller_id: str, tag_id: str) -> TagItem | None:
    return get_or_none(TagItem, seller_id, tag_id)


def page(seller_id: str, limit: int, after: str | None) -> tuple[list[TagItem], str | None]:
    return sorted_page(TagItem, seller_id, limit, after)


def save(item: TagItem) -> bool:
    """Conditional on ``version``; False when the tag moved on (or was deleted) meanwhile."""
    return landed(item.save)


def delete(item: TagItem) -> None:
    landed(lambda: item.delete(add_version_condition=False))


# ----- name claims ------------------------------------------------------------------------

def claim_name(seller_id: str, norm: str, tag_id: str) -> None:
    """Reserve a folded name for a tag; raises Taken when another live tag holds it. A claim
    left behind by a crash (its tag is gone) is taken over."""

    def attempt(_: int) -> None:
        if landed(lambda: TagNameClaim(seller_id=seller_id, norm=norm, tag_id=tag_id).save(
                condition=TagNameClaim.norm.does_not_exist() | (TagNameClaim.tag_id == tag_id))):
            return
        holder = get_or_none(TagNameClaim, seller_id, norm)
        if holder is None:
            raise VersionConflict(norm)      # released meanwhile: claim again
        if get(seller_id, holder.tag_id) is not None:
            raise Taken(holder.tag_id)
        release_name(seller_id, norm, holder.tag_id)   # left by a crash: free it, claim again
        raise VersionConflict(norm)

    retry_on_conflict(attempt, what=f"the tag name '{norm}'")


def release_name(seller_id: str, norm: str, tag_id: str) -> None:
    landed(lambda: TagNameClaim(seller_id=seller_id, norm=norm).delete(
        condition=TagNameClaim.tag_id == tag_id))


# ----- usage by plans ---------------------------------------------------------------------

def mark_used(seller_id: str, tag_ids: list[str], now_ms: int) -> None:
    for tag_id in tag_ids:
        # Only ever moves forward: a late, older report leaves a newer time alone.
        landed(partial(
            TagUsage(seller_id=seller_id, tag_id=tag_id).update,
            actions=[TagUsage.last_used_at.set(now_ms)],
            condition=TagUsage.last_used_at.does_not_exist() | (TagUsage.last_used_at < now_ms)))


def last_used(seller_id: str) -> dict[str, int]:
    return {u.tag_id: int(u.last_used_at)
            for u in TagUsage.query(seller_id, consistent_read=True)}


def forget_usage(seller_id: str, tag_id: str) -> None:
    TagUsage(seller_id=seller_id, tag_id=tag_id).delete()


# ----- audit ------------------------------------------------------------------------------

# Orders entries written in the same millisecond by this process (a batch, or requests in a
# row) as they were made; across processes the random part breaks ties.
_sequence = itertools.count()


def audit_entry(seller_id: str, at_ms: int, actor: str, action: str, tag: str, tag_id: str,
                customer_id: str | None = None, reason: str | None = None) -> TagAuditItem:
    return TagAuditItem(seller_id=seller_id, sk=f"{at_ms:015d}#{next(_sequence) % 10**9:09d}{uuid.uuid4().hex[:6]}",
                        at=at_ms, actor=actor, action=action, tag=tag, tag_id=tag_id,
                        customer_id=customer_id, reason=reason)


def write_audit(entries: list[TagAuditItem]) -> None:
    """BatchWrite (PynamoDB re-sends UnprocessedItems itself, 25 per request)."""
    if not entries:
        return
    with TagAuditItem.batch_write() as batch:
        for entry in entries:
            batch.save(entry)


def audit_page(seller_id: str, limit: int, before: str | None
               ) -> tuple[list[dict[str, Any]], str | None]:
    """Entries newest first; ``before`` is the sort key the previous page ended at."""
    items, nxt = sorted_page(TagAuditItem, seller_id, limit, before, newest_first=True)
    return [{"at": int(i.at), "actor": i.actor, "action": i.action, "tag": i.tag,
             "tag_id": i.tag_id, "customer_id": i.customer_id, "reason": i.reason}
            for i in items], nxt
