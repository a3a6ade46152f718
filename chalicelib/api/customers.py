"""Routes: customers and events."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.common import ListQuery, if_match, now, versioned
from chalicelib.api.routing import decode_cursor, encode_cursor, endpoint
from chalicelib.domain.customers import CustomerPut
from chalicelib.domain.events import EventBatch
from chalicelib.domain.ids import Id

bp = Blueprint(__name__)
# Each route imports its service inside: a service loads PynamoDB and boto3, which app.py's
# cold import must not (measured: docs/architecture.md, "Layers").


class CustomerListQuery(ListQuery):
    segment_id: Id | None = None
    tag: str | None = None


@endpoint(bp, "/v1/customers/{customer_id}", "PUT", role="operator", body=CustomerPut,
          response="customers.Customer", status=(200, 201), errors=(409, 412))
def put_customer(p, customer_id, body, request):
    """Create or update a customer's profile (fields left out keep their value; If-Match
    with a stale version → 412)."""
    from chalicelib.services import customers

    customer, created = customers.put(p.seller_id, customer_id, body, now(), if_match(request))
    return versioned(customer, 201 if created else 200)


@endpoint(bp, "/v1/customers/{customer_id}", "GET", response="customers.Customer")
def get_customer(p, customer_id):
    """A customer with stats, tags and current built-in segments."""
    from chalicelib.services import customers

    customer = customers.get(p.seller_id, customer_id, now())
    return versioned(customer)


@endpoint(bp, "/v1/customers", "GET", query=CustomerListQuery,
          response="customers.CustomerPage", errors=(404,))
def list_customers(p, query):
    """Customers, paginated; optionally those of one segment or with one tag."""
    from chalicelib.services import customers

    items, state = customers.list_page(p.seller_id, query.limit, decode_cursor(query.cursor),
                                       now(), segment_id=query.segment_id, tag=query.tag)
    return {"items": items, "next_cursor": encode_cursor(state)}


@endpoint(bp, "/v1/events", "POST", role="operator", body=EventBatch, status=202,
          response="customers.IngestReport", errors=(409, 413))
def post_events(p, body):
    """Ingest 1–500 events; each bad event is rejected alone."""
    from chalicelib.services import events

    return events.ingest(p.seller_id, body.events, now())
