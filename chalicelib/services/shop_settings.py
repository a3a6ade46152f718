"""Shop settings: read (defaults when never set) and replace."""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain import aggregates
from chalicelib.domain.shop_settings import SettingsPut, ShopSettings, from_put
from chalicelib.domain.versions import check_version
from chalicelib.store import shop_settings as repo
from chalicelib.store.versioning import retry_on_conflict


def get(seller_id: str) -> ShopSettings:
    """The settings in force for a shop; every field has a default."""
    return repo.in_force(seller_id)


def put(seller_id: str, body: SettingsPut, expected_version: int | None, actor: str,
        now: datetime) -> ShopSettings:
    """Replace the settings (fields left out take their defaults). With ``expected_version``
    (If-Match) a stale version -> 412; without it the write still cannot interleave with
    another (conditional on the version read): it is re-applied on the newer version."""

    def attempt(_: int) -> ShopSettings:
        item = repo.get(seller_id)
        check_version(expected_version, item.version if item is not None else 0)
        if item is None:
            item = repo.SettingsItem(seller_id=seller_id)
        doc = from_put(seller_id, body).model_dump(mode="json", exclude={"version"})
        item.doc, item.updated_at, item.updated_by = doc, aggregates.to_ms(now), actor
        repo.save(item)
        return ShopSettings(**doc, version=item.version)

    return retry_on_conflict(attempt, what="the settings", if_match=expected_version)
