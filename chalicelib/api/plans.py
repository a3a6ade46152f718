"""Routes: plans (form, lifecycle, test-send) and the template catalogue."""

from __future__ import annotations

from typing import Literal

from chalice import Blueprint, Response
from pydantic import BaseModel, ConfigDict

from chalicelib.api.common import ListQuery, cursor_id, if_match, now, versioned
from chalicelib.api.routing import encode_cursor, endpoint
from chalicelib.domain import notices, templates
from chalicelib.domain.experiments import WinnerBody
from chalicelib.domain.plans import Kind, PlanCreate, PlanPatch, SendTestBody

bp = Blueprint(__name__)
# Each route imports its service inside: a service loads PynamoDB and boto3, which app.py's
# cold import must not (measured: docs/architecture.md, "Layers").
Status = Literal["draft", "scheduled", "in_progress", "sent", "cancelled", "active", "paused",
                 "ended"]


class PlanListQuery(ListQuery):
    kind: Kind | None = None
    status: Status | None = None


class TemplateQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    kind: Kind | None = None
    goal: Literal["drive_sales", "bring_back", "build_loyalty", "abandoned_cart",
                  "incomplete_payment", "price_drop", "live_reminder", "thank_you"] | None = None
    locale: str | None = None


@endpoint(bp, "/v1/plans", "POST", role="operator", body=PlanCreate, status=201,
          response="plans.Plan", errors=(402, 404, 409))   # 404: deleted before it could start
def create_plan(p, body):
    """Save a plan as a draft, or send it now / at send_at."""
    from chalicelib.services import plans

    return versioned(plans.create(p.seller_id, body, p.user_id, now()), 201)


@endpoint(bp, "/v1/plans", "GET", query=PlanListQuery, response="plans.PlanPage")
def list_plans(p, query):
    """Plans, newest first, optionally of one kind and status."""
    from chalicelib.services import plans

    items, nxt = plans.list_page(p.seller_id, query.limit, cursor_id(query.cursor, "b"), query.kind,
                                 query.status)
    return {"items": items, "next_cursor": encode_cursor({"b": nxt} if nxt else None)}


@endpoint(bp, "/v1/plans/{plan_id}", "GET", response="plans.Plan")
def get_plan(p, plan_id):
    """One plan."""
    from chalicelib.services import plans

    return versioned(plans.get(p.seller_id, plan_id))


@endpoint(bp, "/v1/plans/{plan_id}", "PATCH", role="operator", body=PlanPatch,
          response="plans.Plan", errors=(409, 412))
def patch_plan(p, plan_id, body, request):
    """Edit a draft; If-Match: <version> makes a stale edit fail with 412."""
    from chalicelib.services import plans

    return versioned(plans.patch(p.seller_id, plan_id, body, if_match(request), now()))


@endpoint(bp, "/v1/plans/{plan_id}", "DELETE", role="operator", status=204, errors=(409,))
def delete_plan(p, plan_id):
    """Delete a draft or cancelled one-off plan (204)."""
    from chalicelib.services import plans

    plans.delete(p.seller_id, plan_id)
    return Response(body="", status_code=204)


@endpoint(bp, "/v1/plans/{plan_id}/send", "POST", role="operator", response="plans.Plan",
          errors=(402, 409))
def send_plan(p, plan_id):
    """Send a draft now, or at its send_at."""
    from chalicelib.services import plans

    return versioned(plans.send(p.seller_id, plan_id, now()))


@endpoint(bp, "/v1/plans/{plan_id}/cancel", "POST", role="operator", response="plans.Plan",
          errors=(409,))
def cancel_plan(p, plan_id):
    """Cancel a scheduled or in-progress plan (what is not sent yet is not sent)."""
    from chalicelib.services import plans

    return versioned(plans.cancel(p.seller_id, plan_id, now()))


@endpoint(bp, "/v1/plans/{plan_id}/pause", "POST", role="operator", response="plans.Plan",
          errors=(409,))
def pause_plan(p, plan_id):
    """Pause an active automated plan."""
    from chalicelib.services import plans

    return versioned(plans.move(p.seller_id, plan_id, "pause", now()))


@endpoint(bp, "/v1/plans/{plan_id}/resume", "POST", role="operator", response="plans.Plan",
          errors=(409,))
def resume_plan(p, plan_id):
    """Resume a paused automated plan."""
    from chalicelib.services import plans

    return versioned(plans.move(p.seller_id, plan_id, "resume", now()))


@endpoint(bp, "/v1/plans/{plan_id}/winner", "POST", role="operator", body=WinnerBody,
          response="plans.Plan", errors=(409,))
def pick_winner(p, plan_id, body):
    """Decide the A/B test now: {} by its metric, {"variant_id"} by hand (409 once decided)."""
    from chalicelib.services import plans

    return versioned(plans.winner(p.seller_id, plan_id, body, now()))


@endpoint(bp, "/v1/plans/{plan_id}/test-send", "POST", role="operator", body=SendTestBody,
          response="plans.TestSend", errors=(402, 409, 429))
def test_send_plan(p, plan_id, body):
    """Send the message to one customer, marked test (counts in no figure); blocked or
    unsubscribed -> 409, more than 10 per plan per rolling hour -> 429 with Retry-After."""
    from chalicelib.services import plans

    return plans.test_send(p.seller_id, plan_id, body.customer_id, p.user_id, now())


@endpoint(bp, "/v1/plans/{plan_id}/history", "GET", query=ListQuery,
          response="plans.PlanHistoryEntryPage")
def plan_history(p, plan_id, query):
    """The plan's history (every test send, refused ones too), newest first."""
    from chalicelib.services import plans

    items, nxt = plans.history(p.seller_id, plan_id, query.limit, cursor_id(query.cursor, "b"))
    return {"items": items, "next_cursor": encode_cursor({"b": nxt} if nxt else None)}


@endpoint(bp, "/v1/templates", "GET", query=TemplateQuery, response="plans.TemplatePage")
def list_templates(p, query):
    """The built-in templates, by kind, goal and locale."""
    items = notices.listing(query.locale) if query.kind == "order_notice" \
        else templates.listing(query.kind, query.goal, query.locale)
    return {"items": items, "next_cursor": None}
