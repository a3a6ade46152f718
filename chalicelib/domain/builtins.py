"""The seven built-in segments of SPEC.md §2, evaluated on one customer's aggregates.

"In the last N days" means now - N*24h <= t <= now; orders count when paid and not refunded.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right

from chalicelib.domain import aggregates
from chalicelib.domain.aggregates import DAY_MS

BUILTIN_SEGMENTS: dict[str, str] = {
    "potential_new": "Potential new customers",
    "recent": "Recent customers",
    "repeat": "Repeat customers",
    "loyal": "Loyal customers",
    "lapsed": "Lapsed customers",
    "new_followers": "New followers",
    "active_followers": "Active followers",
}
ENGAGED = ("live_viewed", "live_clicked", "video_viewed", "video_liked", "video_clicked",
           "product_card_clicked")


def memberships(agg: dict, now_ms: int) -> list[str]:
    """Ids of the built-in segments this customer is in at ``now``, in catalogue order."""
    orders = [t for t, _ in aggregates.paid_orders(agg)]
    folded = agg["folded"]["n"]
    upto = bisect_right(orders, now_ms)
    total_orders = folded + upto

    def orders_within(days: int) -> int:
        return upto - bisect_left(orders, now_ms - days * DAY_MS)

    def any_within(types: tuple[str, ...], days: int) -> bool:
        return any(aggregates.count_in_window(agg, t, now_ms - days * DAY_MS, now_ms) for t in types)

    follows, since = aggregates.follow_state(agg)
    first = orders[0] if orders and not folded else (agg["folded"]["first"] if folded else None)
    in30, in90, in365 = orders_within(30), orders_within(90), orders_within(365)
    checks = {
        "potential_new": total_orders == 0 and any_within(("cart_added", "favorited"), 30),
        "recent": first is not None and now_ms - 30 * DAY_MS <= first <= now_ms,
        "repeat": in30 >= 1 and total_orders >= 2,
        "loyal": in90 >= 2,
        "lapsed": in365 >= 1 and in90 == 0,
        "new_followers": follows and since is not None and now_ms - 30 * DAY_MS <= since <= now_ms,
        "active_followers": follows and any_within(ENGAGED, 30),
    }
    return [seg for seg in BUILTIN_SEGMENTS if checks[seg]]
