"""Compile a normalised rule (see rules.py) once into a predicate over ``Profile``s.

Everything that does not depend on the customer — windows turned into millisecond bounds,
money into Decimals, tag names into ids, reused segments expanded — is settled here, so
evaluating a customer is a few attribute reads and comparisons in nested closures.

    keep = compile_rule(rule, now_ms, resolver)
    members = [p.customer_id for p in profiles if keep(p)]
"""

from __future__ import annotations

import math
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable
from datetime import datetime
from decimal import Decimal
from operator import attrgetter
from typing import Any, Protocol

from chalicelib.domain.aggregates import DAY_MS, RECENT_PER_TYPE, whole_days
from chalicelib.domain.profile import Profile, region_key
from chalicelib.domain.rules import GROUPS

Predicate = Callable[[Profile], bool]
_MISSING_TAG = "\x00missing:"   # an id no customer carries: a vanished tag matches nothing


class Resolver(Protocol):
    def segment(self, segment_id: str) -> dict | None:
        """The normalised rule of a built-in or custom segment, or None."""

    def tag_id(self, name: str) -> str | None:
        """The id of a tag by name (compared with norm_name), or None."""


class Compiler:
    """Compiles a rule for one ``now``; reused segments are compiled once per compiler."""

    def __init__(self, now_ms: int, resolver: Resolver) -> None:
        self.now_ms = now_ms
        self.resolver = resolver
        self._segments: dict[str, Predicate] = {}
        self._visiting: set[str] = set()

    def compile(self, node: dict) -> Predicate:
        if "all" in node:
            return _all_of([self.compile(c) for c in node["all"]])
        if "any" in node:
            return _any_of([self.compile(c) for c in node["any"]])
        if "not" in node:
            inner = self.compile(node["not"])
            return lambda p: not inner(p)
        if "segment" in node:
            return self.segment(node["segment"])
        if "attr" in node:
            return self.attr(node)
        if "event" in node:
            return self.event(node)
        return self.tags(node)

    def segment(self, segment_id: str) -> Predicate:
        found = self._segments.get(segment_id)
        if found is not None:
            return found
        rule = self.resolver.segment(segment_id)
        if rule is None or segment_id in self._visiting:
            # Saved rules are checked for unknown ids and cycles; a reference that went
            # missing or looped since (a race with a delete or an edit) cannot hold.
            return _never
        self._visiting.add(segment_id)
        try:
            compiled = _once_per_profile(self.compile(rule))
        finally:
            self._visiting.discard(segment_id)
        self._segments[segment_id] = compiled
        return compiled

    def tag_set(self, node: dict) -> tuple[str, frozenset[str]]:
        if "tag_ids" in node:
            mode, values = next(iter(node["tag_ids"].items()))
            return mode, frozenset(values)
        mode, names = next(iter(node["tags"].items()))
        return mode, frozenset(self.resolver.tag_id(n) or _MISSING_TAG + n for n in names)

    def tags(self, node: dict) -> Predicate:
        mode, wanted = self.tag_set(node)
        if mode == "any":
            return lambda p: not wanted.isdisjoint(p.tags)
        if mode == "all":
            return lambda p: wanted <= p.tags
        return lambda p: wanted.isdisjoint(p.tags)

    # ----- events ------------------------------------------------------------------------

    def window(self, node: dict) -> tuple[int, int]:
        return self.now_ms - node["within_days"] * DAY_MS, self.now_ms

    def event(self, node: dict) -> Predicate:
        # With only a lower bound, counting can stop as soon as it is reached.
        stop_at = node["count"].get("gte") if "lte" not in node["count"] else None
        count = event_counter(node, *self.window(node), stop_at=stop_at)
        in_range = _range(node["count"].get("gte"), node["count"].get("lte"))
        if "amount" not in node:
            return lambda p: in_range(count(p))
        paid = order_amount(node, *self.window(node))
        money_ok = _range(*(Decimal(node["amount"][k]) if k in node["amount"] else None
                            for k in ("gte", "lte")))
        return lambda p: in_range(count(p)) and money_ok(paid(p))

    # ----- attributes --------------------------------------------------------------------

    def attr(self, node: dict) -> Predicate:
        name, op, value = node["attr"], node["op"], node["value"]
        if name == "followed_days":
            return self._followed_days(op, value)
        get = attrgetter(ATTR_SLOTS[name])
        if op == "exists":
            return (lambda p: get(p) is not None) if value else (lambda p: get(p) is None)
        convert = self._converter(name)
        if op == "between":
            lo, hi = sorted(convert(v) for v in value)
            return lambda p: (v := get(p)) is not None and lo <= v <= hi
        if op in ("in", "not_in"):
            wanted = frozenset(convert(v) for v in value)
            if op == "in":
                return lambda p: get(p) in wanted
            return lambda p: (v := get(p)) is not None and v not in wanted
        x = convert(value)
        if op == "eq":
            return lambda p: get(p) == x
        if op == "ne":
            return lambda p: (v := get(p)) is not None and v != x
        if op == "gte":
            return lambda p: (v := get(p)) is not None and v >= x
        return lambda p: (v := get(p)) is not None and v <= x

    def _converter(self, name: str) -> Callable[[Any], Any]:
        if name in ("total_paid", "avg_order_value"):
            return Decimal
        if name in ("first_order_at", "last_order_at"):
            return self.time_ms
        if name == "region":
            return region_key
        return lambda v: v

    def time_ms(self, value: Any) -> int:
        """An ISO time or {"days_ago": N} as epoch milliseconds at this compiler's now."""
        if isinstance(value, dict):
            return self.now_ms - int(value["days_ago"]) * DAY_MS
        return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp() * 1000)

    def _followed_days(self, op: str, value: Any) -> Predicate:
        # followed_days is whole days since the follow, rounded down (API.md), and 0 for a
        # follow up to the 5 minutes ahead an event may be. As fixed bounds on the follow
        # time: days >= k  <=>  f <= now - k days;  days <= k  <=>  f > now - (k + 1) days.
        now = self.now_ms
        if op == "exists":
            return (lambda p: p.followed_ms is not None) if value else (lambda p: p.followed_ms is None)
        low, high = {"gte": (value, None), "lte": (None, value)}.get(op, value)
        oldest = None if high is None else now - (math.floor(high) + 1) * DAY_MS + 1
        newest = None if low is None or math.ceil(low) <= 0 else now - math.ceil(low) * DAY_MS
        in_range = _range(oldest, newest)
        return lambda p: (f := p.followed_ms) is not None and in_range(f)


ATTR_SLOTS = {"age": "age", "gender": "gender", "region": "region_key", "is_follower": "follows",
              "order_count": "order_count", "total_paid": "total_paid",
              "avg_order_value": "avg_order_value", "first_order_at": "first_order_ms",
              "last_order_at": "last_order_ms", "language": "language",
              "followed_days": "followed_ms"}


def compile_rule(rule: dict, now_ms: int, resolver: Resolver) -> Predicate:
    """A predicate answering "is this profile in the segment" at ``now_ms``."""
    return Compiler(now_ms, resolver).compile(rule)


def _once_per_profile(keep: Predicate) -> Predicate:
    """A reused segment is decided once per customer, however often a rule names it (a
    ladder of segments each reusing the previous one twice would otherwise cost 2^n)."""
    last: tuple[Profile | None, bool] = (None, False)

    def check(p: Profile) -> bool:
        nonlocal last
        seen, held = last   # one tuple, read and written whole: safe across threads
        if seen is p:
            return held
        held = keep(p)
        last = (p, held)
        return held

    return check


def _never(p: Profile) -> bool:
    return False


def select(keep: Predicate, profiles: Iterable[Profile]) -> list[str]:
    """Ids of the profiles that match, in the order given."""
    return [p.customer_id for p in profiles if keep(p)]


def _all_of(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda p: a(p) and b(p)

    def all_of(p: Profile) -> bool:
        for pred in preds:
            if not pred(p):
                return False
        return True
    return all_of


def _any_of(preds: list[Predicate]) -> Predicate:
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda p: a(p) or b(p)

    def any_of(p: Profile) -> bool:
        for pred in preds:
            if pred(p):
                return True
        return False
    return any_of


def _range(lo: Any, hi: Any) -> Callable[[Any], bool]:
    if lo is not None and hi is not None:
        return lambda v: lo <= v <= hi
    if lo is not None:
        return lambda v: v >= lo
    if hi is not None:
        return lambda v: v <= hi
    return lambda v: True


def event_counter(node: dict, since: int, until: int, stop_at: int | None = None
                  ) -> Callable[[Profile], int]:
    """How many events of the node's type (or group, or plan) a profile has in [since, until]
    (for a group, possibly fewer once ``stop_at`` is reached), as API.md "Exactness of
    windows" counts them: each type's 50 most recent times exactly, older ones by UTC day,
    a day only when it lies wholly inside the window (docs/segments.md)."""
    etype = node["event"]
    first_day, last_day = whole_days(since, until)
    if etype == "order":
        return lambda p: bisect_right(ts := p.order_times, until) - bisect_left(ts, since)
    if etype == "order_paid":
        def raw_paid(p: Profile) -> int:
            # Every paid order, refunded or not: the same rule as every other type, the
            # 50 most recent exact, older ones counted by whole days.
            ts = p.paid_times
            older = max(len(ts) - RECENT_PER_TYPE, 0)
            n = bisect_right(ts, until, older) - bisect_left(ts, since, older)
            if older:
                n += sum(1 for t in ts[:older] if first_day <= t // DAY_MS <= last_day)
            return n
        return raw_paid
    if "plan_id" in node:
        plan = node["plan_id"]

        def per_plan(p: Profile) -> int:
            ts = p.plans.get(plan)
            ts = ts.get(etype) if ts else None
            return bisect_right(ts, until) - bisect_left(ts, since) if ts else 0
        return per_plan
    types = GROUPS.get(etype, (etype,))
    limit = stop_at if stop_at is not None else float("inf")

    def counted(p: Profile) -> int:
        n = 0
        times, daily = p.times, p.daily
        for t in types:
            ts = times.get(t)
            if ts:
                n += bisect_right(ts, until) - bisect_left(ts, since)
            if daily:
                buckets = daily.get(t)
                if buckets:  # overflow beyond the exact recent times: whole days only
                    n += sum(c for d, c in buckets.items() if first_day <= int(d) <= last_day)
            if n >= limit:
                return n
        return n
    if stop_at != 1:
        return counted

    def any_in_window(p: Profile) -> int:
        # "at least once" (the usual condition): the latest time of each type answers it
        # without counting, unless it lies after the window or whole-day overflow exists.
        last, daily = p.last, p.daily
        for t in types:
            at = last.get(t)
            if at is None:
                continue
            if since <= at <= until:
                return 1
            if at > until or (daily and t in daily):
                return counted(p)
        return 0
    return any_in_window


def order_amount(node: dict, since: int, until: int) -> Callable[[Profile], Decimal]:
    """Total paid by a profile's counted orders in [since, until]."""
    def paid(p: Profile) -> Decimal:
        ts = p.order_times
        return sum(p.order_amounts[bisect_left(ts, since):bisect_right(ts, until)], Decimal(0))
    return paid
