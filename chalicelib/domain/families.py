"""Coupon families (SPEC.md §4, from the advanced manual): who a family voucher is for.

``chat`` (anyone), ``new_customer`` (no counting paid order yet), ``returning_customer``
(the last counting paid order at most 30×24 h ago). A refunded order does not count.
A plan's family voucher goes only to recipients who qualify at the send time; the others
get the message without it. Pure: the caller hands in the customer's aggregates and now.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Literal, TypeVar

from chalicelib.domain import aggregates

Family = Literal["chat", "new_customer", "returning_customer"]
FAMILIES: tuple[str, ...] = ("chat", "new_customer", "returning_customer")
RETURNING_WINDOW_MS = 30 * aggregates.DAY_MS
T = TypeVar("T")


def qualifies(family: str | None, agg: dict | None, now_ms: int) -> bool:
    """Whether a customer with aggregates ``agg`` may get a voucher of ``family`` at
    ``now_ms`` (a voucher with no family is for everyone the plan reaches)."""
    if family is None or family == "chat":
        return True
    stats = aggregates.stats(aggregates.upgrade(dict(agg)) if agg else aggregates.empty())
    if family == "new_customer":
        return stats.order_count == 0
    if family == "returning_customer":
        last = stats.last_order_at
        return last is not None and last >= now_ms - RETURNING_WINDOW_MS
    raise ValueError(f"unknown coupon family '{family}'")


def qualifying(vouchers: Iterable[T], family_of: Callable[[T], str | None], agg: dict | None,
               now_ms: int) -> list[T]:
    """The vouchers a customer qualifies for at ``now_ms`` (what a smart voucher may pick
    from), in the given order."""
    return [v for v in vouchers if qualifies(family_of(v), agg, now_ms)]
