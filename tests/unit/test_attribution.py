"""Attribution (SPEC.md §4): an order within the window after a read or click is credited
to the latest such plan."""

from __future__ import annotations

import pytest

from chalicelib.domain.aggregates import DAY_MS
from chalicelib.domain.attribution import candidates

ORDER = 100 * DAY_MS


@pytest.mark.parametrize("plans, window, expected", [
    ({}, 7, []),
    ({"a": {"message_read": [ORDER - DAY_MS]}}, 7, ["a"]),
    ({"a": {"message_clicked": [ORDER - 7 * DAY_MS]}}, 7, ["a"]),           # boundary included
    ({"a": {"message_read": [ORDER - 7 * DAY_MS - 1]}}, 7, []),             # just outside
    ({"a": {"message_read": [ORDER + 1]}}, 7, []),                          # read after the order
    ({"a": {"message_read": [ORDER - 3 * DAY_MS]}, "b": {"message_clicked": [ORDER - DAY_MS]}},
     7, ["b", "a"]),                                                         # latest first
    ({"a": {"message_read": [ORDER - 10 * DAY_MS]}}, 14, ["a"]),            # shop's own window
    ({"a": {"message_replied": [ORDER - DAY_MS]}}, 7, []),                  # a reply is no touch
    ({"a": {"message_read": [ORDER - 5 * DAY_MS], "message_clicked": [ORDER - DAY_MS]},
      "b": {"message_read": [ORDER - 2 * DAY_MS]}}, 7, ["a", "b"]),
])
def test_order_credits_the_latest_plan_read_or_clicked_within_the_window(plans, window, expected):
    assert candidates(plans, ORDER, window) == expected
