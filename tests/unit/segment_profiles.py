"""Profiles for the segment tests: a fixed now and events given by how many days ago."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count

from chalicelib.domain import aggregates
from chalicelib.domain.events import EVENT_ADAPTER
from chalicelib.domain.profile import Profile

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
NOW_MS = aggregates.to_ms(NOW)
EXTRA = {
    "order_paid": {"amount": "10.00", "currency": "THB"},
    "payment_started": {"amount": "5.00"},
    "cart_added": {"product_id": "p1"}, "cart_removed": {"product_id": "p1"},
    "favorited": {"product_id": "p2"}, "product_viewed": {"product_id": "p3"},
    "review_left": {"product_id": "p1", "rating": 5},
    "live_viewed": {"live_id": "l1"}, "live_clicked": {"live_id": "l1"},
    "video_viewed": {"video_id": "v1"}, "video_liked": {"video_id": "v1"},
    "video_clicked": {"video_id": "v1"}, "product_card_clicked": {"product_id": "p1"},
    "message_read": {"plan_id": "pl1"}, "message_clicked": {"plan_id": "pl1"},
    "message_replied": {"plan_id": "pl1"},
    "voucher_claimed": {"voucher_id": "v1"}, "voucher_redeemed": {"voucher_id": "v1"},
}
_seq = count()


def event(etype: str, days_ago: float, **extra):
    """One validated event ``days_ago`` days before NOW (exactly, to the millisecond)."""
    data = {"event_id": f"e{next(_seq)}", "type": etype, "customer_id": "c1",
            "occurred_at": (NOW - timedelta(days=days_ago)).isoformat(), **EXTRA.get(etype, {})}
    if etype in ("order_paid", "order_refunded", "payment_started") and "order_id" not in extra:
        extra["order_id"] = f"o{days_ago}"
    data.update(extra)
    return EVENT_ADAPTER.validate_python(data)


def order(days_ago: float, amount: str = "10.00", refunded_days_ago: float | None = None,
          order_id: str | None = None) -> list:
    oid = order_id or f"o-{next(_seq)}"
    out = [event("order_paid", days_ago, order_id=oid, amount=amount)]
    if refunded_days_ago is not None:
        out.append(event("order_refunded", refunded_days_ago, order_id=oid))
    return out


def agg_of(*events) -> dict:
    agg = aggregates.empty()
    for e in events:
        if isinstance(e, list):
            for inner in e:
                aggregates.apply(agg, inner)
        else:
            aggregates.apply(agg, e)
    aggregates.prune(agg, NOW_MS)
    return agg


def profile(*events, customer_id: str = "c1", tags: tuple[str, ...] = (), **fields) -> Profile:
    return Profile(customer_id, tags=frozenset(tags), agg=agg_of(*events), **fields)
