"""The flat per-customer view a compiled rule reads, built once per customer from the
profile fields, the aggregates and the tag ids. Where profiles come from (items from the
customers table today, a columnar snapshot later) is not the compiler's business.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from chalicelib.domain import aggregates

_ZERO = Decimal("0")
_CENT = Decimal("0.01")


class Profile:
    """Slots, not a dict or a dataclass: attribute reads are the engine's hot path."""

    __slots__ = ("customer_id", "age", "gender", "region", "region_key", "language", "tags",
                 "follows", "followed_ms", "order_count", "total_paid",
                 "avg_order_value", "first_order_ms", "last_order_ms", "order_times",
                 "order_amounts", "paid_times", "last", "times", "daily", "plans")

    def __init__(self, customer_id: str, *, age: int | None = None, gender: str | None = None,
                 region: str | None = None, language: str | None = None,
                 tags: frozenset[str] = frozenset(), agg: dict | None = None) -> None:
        agg = agg or aggregates.empty()
        self.customer_id = customer_id
        self.age = int(age) if age is not None else None
        self.gender = gender
        self.region = region
        self.region_key = region_key(region)
        self.language = language or None     # the BCP-47 tag as stored, case and all
        self.tags = tags
        follows, since = aggregates.follow_state(agg)
        self.follows = follows
        self.followed_ms = since if follows else None
        # Orders that count (paid, not refunded), exact and ascending, plus the raw paid times
        # (refunded ones too) for the ``order_paid`` event.
        counted: list[tuple[int, Decimal]] = []
        paid: list[int] = []
        for paid_ms, amount, refunded in aggregates.order_rows(agg):
            if paid_ms is None:
                continue
            paid.append(paid_ms)
            if refunded is None:
                counted.append((paid_ms, Decimal(amount)))
        counted.sort()
        paid.sort()
        self.order_times = [t for t, _ in counted]
        self.order_amounts = [a for _, a in counted]
        self.paid_times = paid
        folded = agg["folded"]
        self.order_count = folded["n"] + len(counted)
        self.total_paid = Decimal(folded["total"]) + sum(self.order_amounts, _ZERO)
        # API.md: total_paid / order_count, rounded half-up to cents
        self.avg_order_value = ((self.total_paid / self.order_count).quantize(_CENT, ROUND_HALF_UP)
                                if self.order_count else None)
        firsts = [t for t in (folded["first"], self.order_times[0] if counted else None) if t is not None]
        lasts = [t for t in (folded["last"], self.order_times[-1] if counted else None) if t is not None]
        self.first_order_ms = min(firsts) if firsts else None
        self.last_order_ms = max(lasts) if lasts else None
        self.last: dict[str, int] = agg["last"]
        self.times: dict[str, list[int]] = agg["recent"]
        self.daily: dict[str, dict[str, int]] = agg["daily"]
        self.plans: dict[str, dict[str, list[int]]] = agg["plans"]


def region_key(text: str | None) -> str | None:
    """How ``region`` compares (API.md): case-insensitively, outer spaces trimmed."""
    return text.strip().casefold() if text else None


def from_record(record: Any) -> Profile:
    """A profile from anything shaped like a customer item (attributes customer_id, age,
    gender, region, language, tags, agg)."""
    return Profile(record.customer_id, age=record.age, gender=record.gender,
                   region=record.region, language=record.language,
                   tags=frozenset(record.tags or ()), agg=record.agg)
