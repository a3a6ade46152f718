"""Routes: vouchers."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.common import ListQuery, cursor_id, now, versioned
from chalicelib.api.routing import encode_cursor, endpoint
from chalicelib.domain.vouchers import VoucherCreate

bp = Blueprint(__name__)
# Each route imports its service inside: a service loads PynamoDB and boto3, which app.py's
# cold import must not (measured: docs/architecture.md, "Layers").


@endpoint(bp, "/v1/vouchers", "POST", role="operator", body=VoucherCreate, status=201,
          response="vouchers.Voucher")
def create_voucher(p, body):
    """Create a regular, targeted or private voucher."""
    from chalicelib.services import vouchers

    voucher = vouchers.create_voucher(p.seller_id, body, p.user_id, now())
    return versioned(voucher, 201)


@endpoint(bp, "/v1/vouchers/{voucher_id}", "GET", response="vouchers.Voucher")
def get_voucher(p, voucher_id):
    """One voucher."""
    from chalicelib.services import vouchers

    return vouchers.get_voucher(p.seller_id, voucher_id)


@endpoint(bp, "/v1/vouchers", "GET", query=ListQuery, response="vouchers.VoucherPage")
def list_vouchers(p, query):
    """Vouchers, newest first, paginated."""
    from chalicelib.services import vouchers

    items, nxt = vouchers.list_vouchers(p.seller_id, query.limit, cursor_id(query.cursor))
    return {"items": items, "next_cursor": encode_cursor({"a": nxt} if nxt else None)}

