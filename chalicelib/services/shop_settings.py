"""Shop settings: read (defaults when never set) and replace."""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain import aggregates
from chalicelib.domain.errors import PreconditionFailed
from chalicelib.domain.shop_settings import SettingsPut, ShopSettings, defaults, from_put
from chalicelib.store import shop_settings as repo


def get(seller_id: str) -> ShopSettings:
    """The settings in force for a shop; every field has a default."""
    item = repo.get(seller_id)
    if item is None:
        return defaults(seller_id)
    return ShopSettings(**{**item.doc, "version": item.version})


def put(seller_id: str, body: SettingsPut, expected_version: int | None, actor: str,
        now: datetime) -> ShopSettings:
    """Replace the settings (fields left out take their defaults). With ``expected_version``
    (If-Match) a stale version -> 412; without it the write still cannot interleave with
    another (conditional on the version read), it retries instead."""
    for _ in range(10):
        item = repo.get(seller_id)
        current = item.version if item is not None else 0
        if expected_version is not None and expected_version != current:
            raise PreconditionFailed(f"version {expected_version} is stale; current is {current}")
        if item is None:
            item = repo.SettingsItem(seller_id=seller_id)
        doc = from_put(seller_id, body).model_dump(mode="json", exclude={"version"})
        item.doc, item.updated_at, item.updated_by = doc, aggregates.to_ms(now), actor
        try:
            repo.save(item)
        except repo.VersionConflict:
            if expected_version is not None:
                raise PreconditionFailed("settings changed meanwhile; re-read them") from None
            continue
        return ShopSettings(**doc, version=item.version)
    raise PreconditionFailed("settings kept changing; re-read them")
