"""Routes: tag rules (event-driven and daily) and running the daily ones now."""

from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.common import ListQuery, now
from chalicelib.api.routing import Reply, decode_cursor, encode_cursor, endpoint
from chalicelib.domain.tag_rules import TagRuleCreate

bp = Blueprint(__name__)
# Each route imports its service inside: a service loads PynamoDB and boto3, which app.py's
# cold import must not (measured: docs/architecture.md, "Layers").


@endpoint(bp, "/v1/tag-rules", "GET", query=ListQuery, response="tag_rules.TagRulePage")
def list_tag_rules(p, query):
    """The seller's tag rules in the order they apply (oldest first)."""
    from chalicelib.services import tag_rules

    items, state = tag_rules.list_rules(p.seller_id, query.limit, decode_cursor(query.cursor))
    return {"items": items, "next_cursor": encode_cursor(state)}


@endpoint(bp, "/v1/tag-rules", "POST", role="admin", body=TagRuleCreate, status=201,
          response="tag_rules.TagRule")
def create_tag_rule(p, body):
    """Create an event-driven or daily tag rule (owner/admin)."""
    from chalicelib.services import tag_rules

    return Reply(tag_rules.create(p.seller_id, body, p.user_id, now()), 201)


@endpoint(bp, "/v1/tag-rules/run", "POST", role="owner", response="tag_rules.DailyRunSummary",
          errors=(409,))
def run_tag_rules(p):
    """Run the caller's daily tag rules now (what the daily job does) -> a summary."""
    from chalicelib.services import tag_rules

    return tag_rules.run_daily(p.seller_id, now())


@endpoint(bp, "/v1/tag-rules/{rule_id}", "GET", response="tag_rules.TagRule")
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

