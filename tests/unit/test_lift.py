"""A holdout's lift (SPEC.md §7, API.md "Holdout"): Newcombe's hybrid score interval
(method 10 of Newcombe 1998, Stat Med 17:873-890), the conversion window, incremental GMV."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.domain.aggregates import DAY_MS
from chalicelib.domain.lift import converts, holdout_figures, newcombe, wilson

# Newcombe 1998, Table II, method 10, to the paper's 4 decimals. Rows (a) and (b) are
# confirmed against a retrieved source: the R package propint's test "produces the results
# reported in Newcombe1998" (56/70 - 48/80 -> 0.0524 to 0.3339; 9/10 - 3/10 -> 0.1705 to
# 0.8090). Every row, (c) included, was also checked against an independent implementation:
# statsmodels 0.15.0 confint_proportions_2indep(method="newcomb", compare="diff") gives the
# same figures to 4 decimals (run by hand; statsmodels is not a dependency).
PUBLISHED = [
    ((56, 70, 48, 80), 0.2000, 0.0524, 0.3339),      # (a) confirmed
    ((9, 10, 3, 10), 0.6000, 0.1705, 0.8090),        # (b) confirmed
    ((6, 7, 2, 7), 0.5714, 0.0582, 0.8062),          # (c) statsmodels
    ((5, 56, 0, 29), 0.0893, -0.0381, 0.1926),       # (d) statsmodels
    ((0, 10, 0, 20), 0.0000, -0.1611, 0.2775),       # (e) statsmodels
    ((0, 10, 0, 10), 0.0000, -0.2775, 0.2775),       # (f) statsmodels
    ((10, 10, 0, 20), 1.0000, 0.6791, 1.0000),       # (g) statsmodels
    ((10, 10, 0, 10), 1.0000, 0.6075, 1.0000),       # (h) statsmodels
]


@pytest.mark.parametrize("counts, diff, lower, upper", PUBLISHED)
def test_newcombe_interval_matches_the_published_table(counts, diff, lower, upper):
    d, lo, hi = newcombe(*counts)
    assert (round(d, 4), round(lo, 4), round(min(hi, 1.0), 4)) == (diff, lower, upper)


@pytest.mark.parametrize("x, n, lower, upper", [
    (81, 263, 0.2553, 0.3662),     # Newcombe 1998 (single proportion), as propint pins it
    (15, 148, 0.0624, 0.1605),
])
def test_wilson_interval_matches_the_published_values(x, n, lower, upper):
    lo, hi = wilson(x, n)
    assert (round(lo, 4), round(hi, 4)) == (lower, upper)


def test_newcombe_interval_is_the_mirror_of_the_swapped_groups():
    d, lo, hi = newcombe(9, 10, 3, 10)
    d2, lo2, hi2 = newcombe(3, 10, 9, 10)
    assert (d2, lo2, hi2) == pytest.approx((-d, -hi, -lo))


SEND = 50 * DAY_MS


@pytest.mark.parametrize("order_ms, window, expected", [
    (SEND, 7, False),                   # the send moment itself: not after it
    (SEND + 1, 7, True),
    (SEND - 1, 7, False),               # before the send: no conversion
    (SEND + 7 * DAY_MS, 7, True),       # the window's end is in
    (SEND + 7 * DAY_MS + 1, 7, False),
    (SEND + 10 * DAY_MS, 14, True),     # the shop's own window
])
def test_conversion_counts_orders_within_the_window_after_the_send(order_ms, window, expected):
    assert converts(SEND, order_ms, window) is expected


@pytest.mark.parametrize("args, incremental, net", [
    # 10 delivered spent 300 (30 a head), 5 held out spent 50 (10 a head): (30-10)*10 = 200
    ((10, 4, Decimal("300"), 5, 1, Decimal("50"), Decimal("15.50")), "200.00", "184.50"),
    # the holdout spent more a head: a negative increment
    ((4, 1, Decimal("20"), 2, 2, Decimal("30"), Decimal("0")), "-40.00", "-40.00"),
    # per-head figures are not rounded first: 100 - 10 * 7/3 = 76.666… -> 76.67
    ((7, 0, Decimal("100"), 3, 1, Decimal("10"), Decimal("0")), "76.67", "76.67"),
    # nobody held out: no rate, no increment
    ((10, 4, Decimal("300"), 0, 0, Decimal("0"), Decimal("5")), None, None),
    # nobody delivered: the increment over nobody is 0
    ((0, 0, Decimal("0"), 5, 1, Decimal("50"), Decimal("0")), "0.00", "0.00"),
])
def test_incremental_gmv_is_per_head_difference_times_recipients(args, incremental, net):
    got = holdout_figures(*args)
    assert (got["incremental_gmv"], got["net_incremental_gmv"]) == (incremental, net)


def test_holdout_figures_give_both_conversions_and_the_lift():
    got = holdout_figures(70, 56, Decimal("0"), 80, 48, Decimal("0"), Decimal("0"))
    assert got["holdout"] == {"size": 80, "converted": 48, "conversion": 0.6}
    assert got["recipients_conversion"] == 0.8
    assert got["lift"]["method"] == "newcombe"
    assert got["lift"]["absolute"] == pytest.approx(0.2)
    assert [round(v, 4) for v in got["lift"]["ci95"]] == [0.0524, 0.3339]


@pytest.mark.parametrize("delivered, held", [(0, 5), (5, 0), (0, 0)])
def test_an_empty_group_has_no_rate_and_no_lift(delivered, held):
    got = holdout_figures(delivered, 0, Decimal(0), held, 0, Decimal(0), Decimal(0))
    assert got["lift"] == {"absolute": None, "ci95": None, "method": "newcombe"}
    assert (got["recipients_conversion"] is None) == (delivered == 0)
    assert (got["holdout"]["conversion"] is None) == (held == 0)


def test_interval_is_clipped_to_minus_one_and_one():
    got = holdout_figures(10, 10, Decimal(0), 10, 0, Decimal(0), Decimal(0))
    assert got["lift"]["ci95"][1] == 1.0
