"""Insights on a segment's members (the "user assets" view): who they are and what they bought.

Orders and GMV cover the last 365 days (orders that count: paid, not refunded).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Iterable, Mapping
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


class Tally:
    """The insights' counts, added up from profiles (``add``) and from partial counts made
    elsewhere (``merge``: the columnar snapshot's), then ``result()``."""

    def __init__(self, now_ms: int) -> None:
        self.since, self.now_ms = now_ms - WINDOW_DAYS * DAY_MS, now_ms
        self.size = self.followers = self.orders = 0
        self.gmv = Decimal(0)
        self.gender: Counter[str] = Counter()
        self.ages: Counter[str] = Counter({name: 0 for name, _, _ in AGE_BANDS} | {UNKNOWN: 0})
        self.regions: Counter[str] = Counter()
        self.languages: Counter[str] = Counter()
        self.prices: Counter[str] = Counter({name: 0 for name, _ in PRICE_BANDS})

    def add(self, p: Profile) -> None:
        self.size += 1
        self.followers += p.follows
        self.gender[p.gender or UNKNOWN] += 1
        self.ages[age_band(p.age)] += 1
        self.regions[p.region or UNKNOWN] += 1
        self.languages[p.language or UNKNOWN] += 1
        lo, hi = bisect_left(p.order_times, self.since), bisect_right(p.order_times, self.now_ms)
        self.add_orders(p.order_amounts[lo:hi])

    def add_orders(self, amounts: Iterable[Decimal]) -> None:
        for amount in amounts:
            self.orders += 1
            self.gmv += amount
            self.prices[price_band(amount)] += 1

    def merge(self, size: int, followers: int, gender: Mapping[str | None, int],
              ages: Mapping[int | None, int], regions: Mapping[str | None, int],
              languages: Mapping[str | None, int], orders: int, gmv: Decimal,
              prices: Mapping[str, int]) -> None:
        """Counts of other members: by raw value (None: not set), orders in the window."""
        self.size += size
        self.followers += followers
        for counter, counts in ((self.gender, gender), (self.regions, regions),
                                (self.languages, languages)):
            for value, n in counts.items():
                counter[value or UNKNOWN] += n
        for age, n in ages.items():
            self.ages[age_band(age)] += n
        self.orders += orders
        self.gmv += gmv
        self.prices.update(prices)

    def result(self) -> dict:
        size, orders, gmv = self.size, self.orders, self.gmv
        aov = (gmv / orders) if orders else Decimal(0)
        return {
            "size": size,
            "follower_share": round(self.followers / size, 4) if size else 0.0,
            "gender": dict(self.gender.most_common()),
            "age_bands": dict(self.ages),
            "regions": dict(self.regions.most_common()),
            "languages": dict(self.languages.most_common()),
            "orders": orders,
            "gmv": str(gmv.quantize(CENT, ROUND_HALF_UP)),
            "aov": str(aov.quantize(CENT, ROUND_HALF_UP)),
            "price_bands": dict(self.prices),
            "window_days": WINDOW_DAYS,
        }


def summarise(members: Iterable[Profile], now_ms: int) -> dict:
    """The body of GET /v1/segments/{id}/insights for these members."""
    tally = Tally(now_ms)
    for p in members:
        tally.add(p)
    return tally.result()
