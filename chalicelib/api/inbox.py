"""Routes: a customer's inbox of the local chat channel."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.common import ListQuery
from chalicelib.api.routing import decode_cursor, encode_cursor, endpoint

bp = Blueprint(__name__)
# Each route imports its service inside: a service loads PynamoDB and boto3, which app.py's
# cold import must not (measured: docs/architecture.md, "Layers").


@endpoint(bp, "/v1/customers/{customer_id}/inbox", "GET", query=ListQuery,
          response="inbox.InboxMessagePage")
def customer_inbox(p, customer_id, query):
    """Messages the local chat channel delivered to a customer, newest first."""
    from chalicelib.services import performance

    items, state = performance.inbox_page(p.seller_id, customer_id, query.limit,
                                          decode_cursor(query.cursor))
    return {"items": items, "next_cursor": encode_cursor(state)}

