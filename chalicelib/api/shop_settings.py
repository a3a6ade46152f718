"""Routes: the shop's settings (/v1/settings)."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.common import if_match, now, versioned
from chalicelib.api.routing import endpoint
from chalicelib.domain.shop_settings import SettingsPut

bp = Blueprint(__name__)
# Each route imports its service inside: a service loads PynamoDB and boto3, which app.py's
# cold import must not (measured: docs/architecture.md, "Layers").


@endpoint(bp, "/v1/settings", "GET", response="shop_settings.ShopSettings")
def get_settings(p):
    """The shop's settings (defaults until set)."""
    from chalicelib.services import shop_settings

    current = shop_settings.get(p.seller_id)
    return versioned(current)


@endpoint(bp, "/v1/settings", "PUT", role="admin", body=SettingsPut,
          response="shop_settings.ShopSettings", errors=(409, 412))
def put_settings(p, body, request):
    """Replace the shop's settings; fields left out take their defaults."""
    from chalicelib.services import shop_settings

    current = shop_settings.put(p.seller_id, body, if_match(request), p.user_id, now())
    return versioned(current)

