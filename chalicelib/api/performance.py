"""Routes: a plan's performance and its delivery rows."""

from __future__ import annotations

from typing import Literal

from chalice import Blueprint

from chalicelib.api.common import ListQuery
from chalicelib.api.routing import decode_cursor, encode_cursor, endpoint

bp = Blueprint(__name__)
# Each route imports its service inside: a service loads PynamoDB and boto3, which app.py's
# cold import must not (measured: docs/architecture.md, "Layers").


class DeliveriesQuery(ListQuery):
    status: Literal["delivered", "failed", "skipped"] | None = None


@endpoint(bp, "/v1/plans/{plan_id}/performance", "GET", response="performance.PlanPerformance")
def plan_performance(p, plan_id):
    """Exact counters of a plan: recipients, delivered, skipped by reason, engagement, orders."""
    from chalicelib.services import performance

    return performance.performance(p.seller_id, plan_id)


@endpoint(bp, "/v1/plans/{plan_id}/deliveries", "GET", query=DeliveriesQuery,
          response="performance.DeliveryPage")
def plan_deliveries(p, plan_id, query):
    """One row per recipient of the plan's audience snapshot, optionally of one status."""
    from chalicelib.services import performance

    items, state = performance.deliveries_page(p.seller_id, plan_id, query.status, query.limit,
                                               decode_cursor(query.cursor))
    return {"items": items, "next_cursor": encode_cursor(state)}

