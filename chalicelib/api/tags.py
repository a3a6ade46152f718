"""Routes: tags and their assignments (one customer or bulk), health and audit."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.common import ListQuery, if_match, now, versioned
from chalicelib.api.routing import decode_cursor, encode_cursor, endpoint
from chalicelib.domain.tags import BulkChange, TagChange, TagCreate, TagPatch

bp = Blueprint(__name__)
# Each route imports its service inside: a service loads PynamoDB and boto3, which app.py's
# cold import must not (measured: docs/architecture.md, "Layers").


@endpoint(bp, "/v1/tags", "GET", query=ListQuery, response="tags.TagPage")
def list_tags(p, query):
    """The seller's tags, paginated."""
    from chalicelib.services import tags

    items, state = tags.list_tags(p.seller_id, query.limit, decode_cursor(query.cursor))
    return {"items": items, "next_cursor": encode_cursor(state)}


@endpoint(bp, "/v1/tags", "POST", role="admin", body=TagCreate, status=201,
          response="tags.Tag", errors=(409,))
def create_tag(p, body):
    """Create a tag (owner/admin; 409 when the name exists ignoring case and spaces)."""
    from chalicelib.services import tags

    return versioned(tags.create(p.seller_id, body, p.user_id, now()), 201)


@endpoint(bp, "/v1/tags/bulk", "POST", role="operator", body=BulkChange,
          response="tags.BulkResult", errors=(409,))
def bulk_tags(p, body):
    """Every customer matching the filter: add and remove tags -> {matched, updated}."""
    from chalicelib.services import tags

    return tags.bulk(p.seller_id, body, p.user_id, now())


@endpoint(bp, "/v1/tags/audit", "GET", query=ListQuery,
          response="tags.TagAuditEntryPage")
def tag_audit(p, query):
    """Every change of a tag or an assignment, newest first."""
    from chalicelib.services import tags

    items, state = tags.audit(p.seller_id, query.limit, decode_cursor(query.cursor))
    return {"items": items, "next_cursor": encode_cursor(state)}


@endpoint(bp, "/v1/tags/health", "GET", response="tags.TagHealth")
def tag_health(p):
    """Silent, oversized and stale tags, near-duplicate names, tag count vs guidance."""
    from chalicelib.services import tags

    return tags.health(p.seller_id, now())


@endpoint(bp, "/v1/tags/{tag_id}", "GET", response="tags.Tag")
def get_tag(p, tag_id):
    """One tag."""
    from chalicelib.services import tags

    return versioned(tags.get_tag(p.seller_id, tag_id))


@endpoint(bp, "/v1/tags/{tag_id}", "PATCH", role="admin", body=TagPatch, response="tags.Tag",
          errors=(409, 412))
def patch_tag(p, tag_id, body, request):
    """Rename or re-colour a tag (owner/admin); assignments are kept. If-Match -> 412."""
    from chalicelib.services import tags

    return versioned(tags.update(p.seller_id, tag_id, body, if_match(request), p.user_id, now()))


@endpoint(bp, "/v1/tags/{tag_id}", "DELETE", role="admin", status=204, errors=(409, 412))
def delete_tag(p, tag_id, request):
    """Delete a tag and remove it from every customer (owner/admin; 204)."""
    from chalicelib.services import tags

    tags.delete(p.seller_id, tag_id, if_match(request), p.user_id, now())
    return Response(body="", status_code=204)


@endpoint(bp, "/v1/customers/{customer_id}/tags", "POST", role="operator", body=TagChange,
          response="tags.CustomerTags", errors=(409,))
def change_customer_tags(p, customer_id, body):
    """Add and remove tags on one customer -> the customer's tags."""
    from chalicelib.services import tags

    return tags.change_customer(p.seller_id, customer_id, body, p.user_id, now())

