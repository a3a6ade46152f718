"""Order attribution (SPEC.md §4): an order by a recipient within the attribution window
after a message was read or clicked is credited to the latest such plan. Pure.
"""

from __future__ import annotations

from chalicelib.domain.aggregates import DAY_MS

TOUCH_TYPES = ("message_read", "message_clicked")


def touches(agg_plans: dict[str, dict[str, list[int]]]) -> list[tuple[int, str]]:
    """(time, plan_id) of every read or click kept in a customer's aggregates."""
    return [(ms, plan_id) for plan_id, by_type in agg_plans.items()
            for etype in TOUCH_TYPES for ms in by_type.get(etype, [])]


def candidates(agg_plans: dict[str, dict[str, list[int]]], order_ms: int,
               window_days: int) -> list[str]:
    """Plans that may take credit for an order paid at ``order_ms``, best first: each read or
    click with ``order_ms - window <= t <= order_ms``, latest first, each plan once.

    The caller credits the first candidate that really delivered to this customer (a read
    event naming a plan that never messaged them credits nothing)."""
    since = order_ms - window_days * DAY_MS
    ordered = sorted((t for t in touches(agg_plans) if since <= t[0] <= order_ms), reverse=True)
    return list(dict.fromkeys(plan_id for _, plan_id in ordered))
