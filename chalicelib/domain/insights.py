"""Insights on a segment's members (the "user assets" view): who they are and what they bought.

Orders and GMV cover the last 365 days (orders that count: paid, not refunded).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal

from chalicelib.domain.aggregates import DAY_MS
from chalicelib.domain.profile import Profile

AGE_BANDS: tuple[tuple[str, int, int], ...] = (
    ("<18", 0, 17), ("18-24", 18, 24), ("25-34", 25, 34), ("35-44", 35, 44), ("45-54", 45, 54),
    ("55+", 55, 10_000))
# Upper bounds exclusive: an order of exactly 10.00 is in "10-50".
PRICE_BANDS: tuple[tuple[str, Decimal | None], ...] = (
    ("0-10", Decimal(10)), ("10-50", Decimal(50)), ("50-100", Decimal(100)),
    ("100-500", Decimal(500)), ("500+", None))
UNKNOWN = "unknown"
CENT = Decimal("0.01")
WINDOW_DAYS = 365


def age_band(age: int | None) -> str:
    if age is None:
        return UNKNOWN
    return next(name for name, lo, hi in AGE_BANDS if lo <= age <= hi)


def price_band(amount: Decimal) -> str:
    return next(name for name, below in PRICE_BANDS if below is None or amount < below)


def summarise(members: Iterable[Profile], now_ms: int) -> dict:
    """The body of GET /v1/segments/{id}/insights for these members."""
    since = now_ms - WINDOW_DAYS * DAY_MS
    size = followers = orders = 0
    gmv = Decimal(0)
    gender: Counter[str] = Counter()
    ages: Counter[str] = Counter({name: 0 for name, _, _ in AGE_BANDS} | {UNKNOWN: 0})
    regions: Counter[str] = Counter()
    languages: Counter[str] = Counter()
    prices: Counter[str] = Counter({name: 0 for name, _ in PRICE_BANDS})
    for p in members:
        size += 1
        followers += p.follows
        gender[p.gender or UNKNOWN] += 1
        ages[age_band(p.age)] += 1
        regions[p.region or UNKNOWN] += 1
        languages[p.language or UNKNOWN] += 1
        lo, hi = bisect_left(p.order_times, since), bisect_right(p.order_times, now_ms)
        for amount in p.order_amounts[lo:hi]:
            orders += 1
            gmv += amount
            prices[price_band(amount)] += 1
    aov = (gmv / orders) if orders else Decimal(0)
    return {
        "size": size,
        "follower_share": round(followers / size, 4) if size else 0.0,
        "gender": dict(gender.most_common()),
        "age_bands": dict(ages),
        "regions": dict(regions.most_common()),
        "languages": dict(languages.most_common()),
        "orders": orders,
        "gmv": str(gmv.quantize(CENT, ROUND_HALF_UP)),
        "aov": str(aov.quantize(CENT, ROUND_HALF_UP)),
        "price_bands": dict(prices),
        "window_days": WINDOW_DAYS,
    }
