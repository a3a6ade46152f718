"""Routes: segments (built-in and custom), preview, members, insights, explain."""

from __future__ import annotations

from typing import Annotated, Any

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from chalicelib.api.common import ListQuery, if_match, now, versioned
from chalicelib.api.responses import RULE_DOC
from chalicelib.api.routing import decode_cursor, encode_cursor, endpoint
from chalicelib.domain.errors import Invalid

bp = Blueprint(__name__)
# Each route imports its service (or chalicelib.audiences) inside: they load PynamoDB and
# boto3, which app.py's cold import must not (measured: docs/architecture.md, "Layers").

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]


class SegmentCreate(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: Name
    rule: dict[str, Any] = Field(description=RULE_DOC)


class SegmentPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    name: Name | None = None
    rule: dict[str, Any] | None = Field(default=None, description=RULE_DOC)


class PreviewBody(BaseModel):
    model_config = ConfigDict(extra="ignore")
    rule: dict[str, Any] = Field(description=RULE_DOC)
    sample_size: Annotated[int, Field(ge=0, le=100)] = 20


@endpoint(bp, "/v1/segments", "GET", query=ListQuery, response="segments.SegmentPage")
def list_segments(p, query):
    """The 7 built-in segments, then the seller's custom segments."""
    from chalicelib.services import segments

    offset = (decode_cursor(query.cursor) or {}).get("o", 0)
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise Invalid("cursor is not valid", [{"path": "cursor", "message": "invalid cursor"}])
    items, more = segments.list_all(p.seller_id, offset, query.limit, now())
    return {"items": items, "next_cursor": encode_cursor({"o": more} if more else None)}


@endpoint(bp, "/v1/segments", "POST", role="operator", body=SegmentCreate, status=201,
          response="segments.Segment")
def create_segment(p, body):
    """Create a custom segment from a rule (warnings advise, never refuse)."""
    from chalicelib.services import segments

    return versioned(segments.create(p.seller_id, body.name, body.rule, now(), p.user_id),
                      201)


@endpoint(bp, "/v1/segments/preview", "POST", body=PreviewBody,
          response="segments.SegmentPreview")
def preview_segment(p, body):
    """Size now and a sample of members of a rule, without saving it."""
    from chalicelib import audiences

    return audiences.preview(p.seller_id, body.rule, now(), body.sample_size)


@endpoint(bp, "/v1/segments/{segment_id}", "GET", response="segments.Segment")
def get_segment(p, segment_id):
    """One segment (ETag = version)."""
    from chalicelib.services import segments

    return versioned(segments.get(p.seller_id, segment_id))


@endpoint(bp, "/v1/segments/{segment_id}", "PATCH", role="operator", body=SegmentPatch,
          response="segments.Segment", errors=(409, 412))
def patch_segment(p, segment_id, body, request):
    """Change a custom segment's name and/or rule; If-Match: <version> or 412."""
    from chalicelib.services import segments

    changes = body.model_dump(exclude_unset=True)
    for field in ("name", "rule"):
        if field in changes and changes[field] is None:
            raise Invalid(f"{field} cannot be null", [{"path": field, "message": "cannot be null"}])
    return versioned(segments.update(p.seller_id, segment_id, changes, if_match(request),
                                               now()))


@endpoint(bp, "/v1/segments/{segment_id}", "DELETE", role="operator", status=204,
          errors=(409, 412))
def delete_segment(p, segment_id, request):
    """Delete a custom segment (409 for built-ins and for segments another segment reuses)."""
    from chalicelib.services import segments

    segments.delete(p.seller_id, segment_id, if_match(request))
    return Response(body="", status_code=204)


@endpoint(bp, "/v1/segments/{segment_id}/members", "GET", query=ListQuery,
          response="segments.SegmentMemberPage")
def segment_members(p, segment_id, query):
    """Members of a segment now, paginated; every member exactly once across pages."""
    from chalicelib import audiences

    items, state = audiences.members_page(p.seller_id, segment_id, query.limit,
                                         decode_cursor(query.cursor), now())
    return {"items": items, "next_cursor": encode_cursor(state)}


@endpoint(bp, "/v1/segments/{segment_id}/insights", "GET",
          response="segments.SegmentInsights")
def segment_insights(p, segment_id):
    """Who the members are and what they bought in the last 365 days."""
    from chalicelib import audiences

    return audiences.insights(p.seller_id, segment_id, now())


@endpoint(bp, "/v1/segments/{segment_id}/explain/{customer_id}", "GET",
          response="segments.Explanation")
def explain_membership(p, segment_id, customer_id):
    """Every condition of the segment's rule for one customer: held or not, and what it saw."""
    from chalicelib import audiences

    return audiences.explain(p.seller_id, segment_id, customer_id, now())
