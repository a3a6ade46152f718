"""Body of the settings routes (api/shop_settings.py): the domain's ShopSettings itself,
which the service returns (validated already, it is dumped whole)."""

from __future__ import annotations

from chalicelib.domain.shop_settings import ShopSettings

__all__ = ["ShopSettings"]
