"""Settings table: one item per shop holding the settings document, versioned."""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute, VersionAttribute

from chalicelib.domain.shop_settings import ShopSettings, defaults
from chalicelib.store.base import BaseModel, get_or_none, meta
from chalicelib.store.versioning import VersionConflict, conditional_save  # noqa: F401  (repo.VersionConflict)


class SettingsItem(BaseModel):
    Meta = meta("settings")
    seller_id = UnicodeAttribute(hash_key=True)
    doc = JSONAttribute()
    updated_at = NumberAttribute(default=0)
    updated_by = UnicodeAttribute(null=True)
    version = VersionAttribute()


def get(seller_id: str) -> SettingsItem | None:
    return get_or_none(SettingsItem, seller_id)


def in_force(seller_id: str) -> ShopSettings:
    """The settings in force for a shop (every field has a default until the shop sets it):
    what the settings API shows and what delivery, attribution and imports go by."""
    item = get(seller_id)
    if item is None:
        return defaults(seller_id)
    return ShopSettings(**{**item.doc, "version": item.version})


def save(item: SettingsItem) -> None:
    """Conditional on ``version`` (PynamoDB adds the condition); VersionConflict when stale."""
    conditional_save(item, item.seller_id)
