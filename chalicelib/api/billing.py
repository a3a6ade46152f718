"""Routes: the prepaid balance, top-ups and the ledger (API.md "billing"), and the CSV
upload of an order notice's orders."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.common import ListQuery, cursor_id, now
from chalicelib.api.imports import CSV_TYPES
from chalicelib.api.routing import Reply, encode_cursor, endpoint
from chalicelib.domain.billing import TopupBody

bp = Blueprint(__name__)
# Each route imports its service inside (docs/architecture.md, "Layers").


@endpoint(bp, "/v1/billing", "GET", response="billing.Billing")
def get_billing(p):
    """The balance free to spend, what is reserved for plans still sending, the price list."""
    from chalicelib.services import billing

    return billing.summary(p.seller_id)


@endpoint(bp, "/v1/billing/topups", "POST", role="owner", body=TopupBody, status=201,
          response="billing.Topup", errors=(409,))
def create_topup(p, body):
    """Add to the prepaid balance (owner only; 0 < amount ≤ 1,000,000)."""
    from chalicelib.services import billing

    return Reply(billing.topup(p.seller_id, body, p.user_id, now()), 201)


@endpoint(bp, "/v1/billing/ledger", "GET", query=ListQuery, response="billing.LedgerEntryPage")
def billing_ledger(p, query):
    """Every movement of the balance, newest first (topup +, reserve −, charge −, release +)."""
    from chalicelib.services import billing

    items, nxt = billing.ledger(p.seller_id, query.limit, cursor_id(query.cursor, "b"))
    return {"items": items, "next_cursor": encode_cursor({"b": nxt} if nxt else None)}


@endpoint(bp, "/v1/plans/{plan_id}/orders", "POST", role="operator", content_types=CSV_TYPES,
          raw_body=True, response="billing.OrdersUpload", errors=(409, 413))
def upload_notice_orders(p, plan_id, raw):
    """Replace a draft order notice's orders from a CSV (order_id, product_name, ship_date,
    reason, solution) -> the row report."""
    from chalicelib.services import order_notices

    return order_notices.upload(p.seller_id, plan_id, raw, now())
