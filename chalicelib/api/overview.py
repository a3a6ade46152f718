"""Routes: the shop's overview dashboard and a segment's performance (API.md "Overview,
segment performance, audience export")."""

from __future__ import annotations

from chalice import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from chalicelib.api.common import now
from chalicelib.api.routing import endpoint
from chalicelib.domain.overview import MAX_DAYS, MIN_DAYS

bp = Blueprint(__name__)
# Each route imports its service inside (app.py's cold import stays light: docs/architecture.md).


class WindowQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    days: int = Field(default=30, ge=MIN_DAYS, le=MAX_DAYS,
                      description="the window: this many calendar days in the shop's time "
                                  "zone, today the last")


@endpoint(bp, "/v1/overview", "GET", query=WindowQuery, response="overview.Overview")
def shop_overview(p, query):
    """The shop over the window: customers and built-in segment sizes now, the funnel of
    distinct customers, attributed and shop GMV, the best plans, one item per day."""
    from chalicelib.services import overview

    return overview.overview(p.seller_id, query.days, now())


@endpoint(bp, "/v1/segments/{segment_id}/performance", "GET", query=WindowQuery,
          response="overview.SegmentPerformance")
def segment_performance(p, segment_id, query):
    """The plans sent in the window whose audience named the segment, with their figures."""
    from chalicelib.services import overview

    return overview.segment_performance(p.seller_id, segment_id, query.days, now())
