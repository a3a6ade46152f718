"""Coupon families (API.md vouchers' ``family``): who qualifies, at the send time."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace

import pytest

from chalicelib.domain import aggregates
from chalicelib.domain.families import qualifies, qualifying

NOW = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
NOW_MS = aggregates.to_ms(NOW)
DAY = aggregates.DAY_MS


def agg_with(*orders: tuple[str, int, bool]) -> dict:
    """Orders as (order id, paid days-ago in ms, refunded)."""
    agg = aggregates.empty()
    for order_id, ago_ms, refunded in orders:
        at = datetime.fromtimestamp((NOW_MS - ago_ms) / 1000, UTC)
        aggregates.apply(agg, SimpleNamespace(type="order_paid", order_id=order_id, amount="10.00",
                                              occurred_at=at))
        if refunded:
            aggregates.apply(agg, SimpleNamespace(type="order_refunded", order_id=order_id,
                                                  occurred_at=at))
    return agg


@pytest.mark.parametrize("family, orders, expected", [
    (None, [], True),
    ("chat", [], True),
    ("chat", [("o1", 400 * DAY, False)], True),
    ("new_customer", [], True),
    ("new_customer", [("o1", 2 * DAY, False)], False),
    ("new_customer", [("o1", 2 * DAY, True)], True),                    # refunded: does not count
    ("new_customer", [("o1", 2 * DAY, True), ("o2", 90 * DAY, False)], False),
    ("returning_customer", [], False),
    ("returning_customer", [("o1", 30 * DAY, False)], True),            # exactly 30×24 h: in
    ("returning_customer", [("o1", 30 * DAY + 1, False)], False),       # a millisecond more: out
    ("returning_customer", [("o1", 1 * DAY, True)], False),             # refunded: does not count
    ("returning_customer", [("o1", 1 * DAY, True), ("o2", 29 * DAY, False)], True),
    ("returning_customer", [("o1", 1 * DAY, True), ("o2", 31 * DAY, False)], False),
    ("returning_customer", [("o1", 0, False)], True),
])
def test_a_family_voucher_is_for_who_qualifies_at_the_send_time(family, orders, expected):
    assert qualifies(family, agg_with(*orders), NOW_MS) is expected


def test_a_customer_with_no_aggregates_is_new():
    assert qualifies("new_customer", None, NOW_MS)
    assert not qualifies("returning_customer", None, NOW_MS)


def test_an_unknown_family_is_a_programming_error():
    with pytest.raises(ValueError):
        qualifies("vip", None, NOW_MS)


def test_a_smart_voucher_picks_only_among_vouchers_the_customer_qualifies_for():
    vouchers = [("v-new", "new_customer"), ("v-back", "returning_customer"), ("v-chat", "chat"),
                ("v-any", None)]
    recent_buyer = agg_with(("o1", 3 * DAY, False))
    assert [v for v, _ in qualifying(vouchers, lambda v: v[1], recent_buyer, NOW_MS)] == [
        "v-back", "v-chat", "v-any"]
    assert [v for v, _ in qualifying(vouchers, lambda v: v[1], None, NOW_MS)] == [
        "v-new", "v-chat", "v-any"]
