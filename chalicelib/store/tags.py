"""Tags table (definitions); assignments live on the customer item as tag ids."""

from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, VersionAttribute

from chalicelib.store.base import BaseModel, meta


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
    version = VersionAttribute()


def all_tags(seller_id: str) -> list[TagItem]:
    return list(TagItem.query(seller_id, consistent_read=True))


def names_by_id(seller_id: str, ids: set[str] | None = None) -> dict[str, str]:
    return {t.tag_id: t.name for t in all_tags(seller_id) if ids is None or t.tag_id in ids}
