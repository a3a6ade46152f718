"""Route: a follow-up to a sent one-off plan's non-readers (a new one-off plan)."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.common import now, versioned
from chalicelib.api.routing import endpoint
from chalicelib.domain.followups import FollowUpCreate

bp = Blueprint(__name__)


@endpoint(bp, "/v1/plans/{plan_id}/follow-up", "POST", role="operator", body=FollowUpCreate,
          status=201, response="plans.Plan", errors=(402, 409))
def follow_up_plan(p, plan_id, body):
    """A one-off plan to the original's delivered recipients who have not read it when it is
    dispatched; after_days (default 3) after the original's send time, or at send_at."""
    from chalicelib.services import followups

    return versioned(followups.create(p.seller_id, plan_id, body, p.user_id, now()), 201)
