"""A follow-up's audience, fixed when it is dispatched: the original plan's delivered
recipients who have not read it by then (a click or a reply counts as read)."""

from __future__ import annotations

from chalicelib.domain import aggregates
from chalicelib.domain.followups import has_seen
from chalicelib.store import customers, deliveries, plans


def original_of(plan: plans.PlanItem) -> str | None:
    """The plan a follow-up follows up, or None for any other plan."""
    return (plan.extra or {}).get("follow_up_of")


def non_readers(seller_id: str, original_id: str) -> set[str]:
    delivered = deliveries.delivered_ids(seller_id, original_id)
    items = customers.batch_get(seller_id, sorted(delivered)) if delivered else {}
    return {cid for cid, item in items.items()
            if not has_seen(((item.agg or aggregates.empty()).get("plans") or {}).get(original_id))}
