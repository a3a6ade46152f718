"""Routes: tags, assignments (one customer or bulk), imports, tag rules, health and audit."""

from __future__ import annotations

from typing import Annotated

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.common import ListQuery, if_match, now
from chalicelib.api.routing import Reply, decode_cursor, encode_cursor, endpoint
from chalicelib.domain.tag_rules import TagRuleCreate
from chalicelib.domain.tags import BulkChange, TagChange, TagCreate, TagPatch

bp = Blueprint(__name__)
CSV_TYPES = ["text/csv", "text/plain"]


class ImportQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    default_region: Annotated[str, Field(min_length=2, max_length=3, description=(
        "ISO 3166 region for numbers without a country code, e.g. TH"))] | None = None


def _tag(tag: dict, status: int = 200) -> Reply:
    return Reply(tag, status, {"ETag": str(tag["version"])})


@endpoint(bp, "/v1/tags", "GET", query=ListQuery)
def list_tags(p, query):
    """The seller's tags, paginated."""
    from chalicelib.services import tags

    items, state = tags.list_tags(p.seller_id, query.limit, decode_cursor(query.cursor))
    return {"items": items, "next_cursor": encode_cursor(state)}


@endpoint(bp, "/v1/tags", "POST", role="admin", body=TagCreate, status=201)
def create_tag(p, body):
    """Create a tag (owner/admin; 409 when the name exists ignoring case and spaces)."""
    from chalicelib.services import tags

    return _tag(tags.create(p.seller_id, body, p.user_id, now()), 201)


@endpoint(bp, "/v1/tags/bulk", "POST", role="operator", body=BulkChange)
def bulk_tags(p, body):
    """Every customer matching the filter: add and remove tags -> {matched, updated}."""
    from chalicelib.services import tags

    return tags.bulk(p.seller_id, body, p.user_id, now())


@endpoint(bp, "/v1/tags/audit", "GET", query=ListQuery)
def tag_audit(p, query):
    """Every change of a tag or an assignment, newest first."""
    from chalicelib.services import tags

    items, state = tags.audit(p.seller_id, query.limit, decode_cursor(query.cursor))
    return {"items": items, "next_cursor": encode_cursor(state)}


@endpoint(bp, "/v1/tags/health", "GET")
def tag_health(p):
    """Silent, oversized and stale tags, near-duplicate names, tag count vs guidance."""
    from chalicelib.services import tags

    return tags.health(p.seller_id, now())


@endpoint(bp, "/v1/tags/{tag_id}", "GET")
def get_tag(p, tag_id):
    """One tag."""
    from chalicelib.services import tags

    return _tag(tags.get_tag(p.seller_id, tag_id))


@endpoint(bp, "/v1/tags/{tag_id}", "PATCH", role="admin", body=TagPatch)
def patch_tag(p, tag_id, body, request):
    """Rename or re-colour a tag (owner/admin); assignments are kept. If-Match -> 412."""
    from chalicelib.services import tags

    return _tag(tags.update(p.seller_id, tag_id, body, if_match(request), p.user_id, now()))


@endpoint(bp, "/v1/tags/{tag_id}", "DELETE", role="admin", status=204)
def delete_tag(p, tag_id, request):
    """Delete a tag and remove it from every customer (owner/admin; 204)."""
    from chalicelib.services import tags

    tags.delete(p.seller_id, tag_id, if_match(request), p.user_id, now())
    return Response(body="", status_code=204)


@endpoint(bp, "/v1/customers/{customer_id}/tags", "POST", role="operator", body=TagChange)
def change_customer_tags(p, customer_id, body):
    """Add and remove tags on one customer -> the customer's tags."""
    from chalicelib.services import tags

    return tags.change_customer(p.seller_id, customer_id, body, p.user_id, now())


@endpoint(bp, "/v1/imports", "POST", role="operator", query=ImportQuery, status=201,
          content_types=CSV_TYPES, raw_body=True)
def create_import(p, raw, query):
    """Import a CSV/TXT of phone, tags, name (≤ 5,000 rows; 3 per hour) -> the report."""
    from chalicelib.services import imports

    return Reply(imports.run(p.seller_id, raw, query.default_region, p.user_id, now()), 201)


@endpoint(bp, "/v1/imports/{import_id}", "GET")
def get_import(p, import_id):
    """An import's report."""
    from chalicelib.services import imports

    return imports.get(p.seller_id, import_id)


@endpoint(bp, "/v1/tag-rules", "GET", query=ListQuery)
def list_tag_rules(p, query):
    """The seller's tag rules in the order they apply (oldest first)."""
    from chalicelib.services import tag_rules

    items, state = tag_rules.list_rules(p.seller_id, query.limit, decode_cursor(query.cursor))
    return {"items": items, "next_cursor": encode_cursor(state)}


@endpoint(bp, "/v1/tag-rules", "POST", role="admin", body=TagRuleCreate, status=201)
def create_tag_rule(p, body):
    """Create an event-driven or daily tag rule (owner/admin)."""
    from chalicelib.services import tag_rules

    return Reply(tag_rules.create(p.seller_id, body, p.user_id, now()), 201)


@endpoint(bp, "/v1/tag-rules/run", "POST", role="owner")
def run_tag_rules(p):
    """Run the caller's daily tag rules now (what the daily job does) -> a summary."""
    from chalicelib.services import tag_rules

    return tag_rules.run_daily(p.seller_id, now())


@endpoint(bp, "/v1/tag-rules/{rule_id}", "GET")
def get_tag_rule(p, rule_id):
    """One tag rule."""
    from chalicelib.services import tag_rules

    return tag_rules.get_rule(p.seller_id, rule_id)


@endpoint(bp, "/v1/tag-rules/{rule_id}", "DELETE", role="admin", status=204)
def delete_tag_rule(p, rule_id):
    """Delete a tag rule (owner/admin; 204). Tags it set stay."""
    from chalicelib.services import tag_rules

    tag_rules.delete(p.seller_id, rule_id)
    return Response(body="", status_code=204)
