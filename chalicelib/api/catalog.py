"""Routes: products, vouchers and shop settings."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.common import ListQuery, if_match, now
from chalicelib.api.routing import Reply, decode_cursor, encode_cursor, endpoint
from chalicelib.domain.errors import Invalid
from chalicelib.domain.ids import is_id
from chalicelib.domain.shop_settings import SettingsPut
from chalicelib.domain.vouchers import ProductPut, VoucherCreate

bp = Blueprint(__name__)


def cursor_id(cursor: str | None, key: str = "a") -> str | None:
    """The id a list cursor continues from."""
    after = (decode_cursor(cursor) or {}).get(key)
    if after is None:
        return None
    if not is_id(after):
        raise Invalid("cursor is not valid", [{"path": "cursor", "message": "invalid cursor"}])
    return after


@endpoint(bp, "/v1/products/{product_id}", "PUT", role="operator", body=ProductPut)
def put_product(p, product_id, body):
    """Create (201) or replace (200) a product."""
    from chalicelib.services import catalog

    product, created = catalog.put_product(p.seller_id, product_id, body, now())
    return Reply(product, 201 if created else 200, {"ETag": str(product["version"])})


@endpoint(bp, "/v1/products/{product_id}", "GET")
def get_product(p, product_id):
    """One product."""
    from chalicelib.services import catalog

    product = catalog.get_product(p.seller_id, product_id)
    return Reply(product, 200, {"ETag": str(product["version"])})


@endpoint(bp, "/v1/products", "GET", query=ListQuery)
def list_products(p, query):
    """Products by id, paginated."""
    from chalicelib.services import catalog

    items, nxt = catalog.list_products(p.seller_id, query.limit, cursor_id(query.cursor))
    return {"items": items, "next_cursor": encode_cursor({"a": nxt} if nxt else None)}


@endpoint(bp, "/v1/vouchers", "POST", role="operator", body=VoucherCreate, status=201)
def create_voucher(p, body):
    """Create a regular, targeted or private voucher."""
    from chalicelib.services import catalog

    voucher = catalog.create_voucher(p.seller_id, body, p.user_id, now())
    return Reply(voucher, 201, {"ETag": str(voucher["version"])})


@endpoint(bp, "/v1/vouchers/{voucher_id}", "GET")
def get_voucher(p, voucher_id):
    """One voucher."""
    from chalicelib.services import catalog

    return catalog.get_voucher(p.seller_id, voucher_id)


@endpoint(bp, "/v1/vouchers", "GET", query=ListQuery)
def list_vouchers(p, query):
    """Vouchers, newest first, paginated."""
    from chalicelib.services import catalog

    items, nxt = catalog.list_vouchers(p.seller_id, query.limit, cursor_id(query.cursor))
    return {"items": items, "next_cursor": encode_cursor({"a": nxt} if nxt else None)}


@endpoint(bp, "/v1/settings", "GET")
def get_settings(p):
    """The shop's settings (defaults until set)."""
    from chalicelib.services import shop_settings

    current = shop_settings.get(p.seller_id)
    return Reply(current, 200, {"ETag": str(current.version)})


@endpoint(bp, "/v1/settings", "PUT", role="admin", body=SettingsPut)
def put_settings(p, body, request):
    """Replace the shop's settings; fields left out take their defaults."""
    from chalicelib.services import shop_settings

    current = shop_settings.put(p.seller_id, body, if_match(request), p.user_id, now())
    return Reply(current, 200, {"ETag": str(current.version)})

