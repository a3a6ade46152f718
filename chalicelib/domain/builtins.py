"""The seven built-in segments of SPEC.md §2, declared as rules of the segment grammar
(configuration as data: the same compiler, explain and insights serve built-ins and custom
segments).

"In the last N days" means now - N*24h <= t <= now; orders count when paid and not
refunded (the ``order`` event group and the ``order_count`` attribute).
"""

from __future__ import annotations

from functools import lru_cache

from chalicelib.domain import rules
from chalicelib.domain.compiler import Predicate, compile_rule
from chalicelib.domain.profile import Profile

BUILTIN_SEGMENTS: dict[str, str] = {
    "potential_new": "Potential new customers",
    "recent": "Recent customers",
    "repeat": "Repeat customers",
    "loyal": "Loyal customers",
    "lapsed": "Lapsed customers",
    "new_followers": "New followers",
    "active_followers": "Active followers",
}

_RAW_RULES: dict[str, dict] = {
    # never ordered, and added to cart or favourited a product in the last 30 days
    "potential_new": {"all": [
        {"attr": "order_count", "op": "eq", "value": 0},
        {"any": [{"event": "cart_added", "within_days": 30},
                 {"event": "favorited", "within_days": 30}]}]},
    # first order ever in the last 30 days
    "recent": {"attr": "first_order_at", "op": "between",
               "value": [{"days_ago": 30}, {"days_ago": 0}]},
    # ordered in the last 30 days and had an order before that one: with an order in the
    # window, "2 or more orders" is the same thing (a lone first order in the window fails,
    # two orders both in the window pass)
    "repeat": {"all": [{"event": "order", "within_days": 30},
                       {"attr": "order_count", "op": "gte", "value": 2}]},
    "loyal": {"event": "order", "within_days": 90, "count": {"gte": 2}},
    "lapsed": {"all": [{"event": "order", "within_days": 365},
                       {"event": "order", "within_days": 90, "count": {"lte": 0}}]},
    # followed_days is whole days rounded down: a follow less than 31 days ago (30.5 is 30)
    "new_followers": {"attr": "followed_days", "op": "lte", "value": 30},
    "active_followers": {"all": [{"attr": "is_follower", "op": "eq", "value": True},
                                 {"event": "engaged", "within_days": 30}]},
}


def _normalise() -> dict[str, dict]:
    out = {}
    for seg, raw in _RAW_RULES.items():
        parsed = rules.parse(raw)
        if parsed.problems or parsed.segment_refs or parsed.tag_names:
            raise ValueError(f"built-in {seg} is not a self-contained rule: {parsed.problems}")
        out[seg] = parsed.rule
    return out


BUILTIN_RULES: dict[str, dict] = _normalise()


class _NoRefs:
    """Built-ins reuse no segment and read no tag."""

    def segment(self, segment_id: str) -> dict | None:
        return BUILTIN_RULES.get(segment_id)

    def tag_id(self, name: str) -> str | None:
        return None


@lru_cache(maxsize=4)
def compiled(now_ms: int) -> dict[str, Predicate]:
    """Every built-in compiled for one ``now`` (cached: a page of customers shares it)."""
    return {seg: compile_rule(rule, now_ms, _NoRefs()) for seg, rule in BUILTIN_RULES.items()}


def memberships_of(profile: Profile, now_ms: int) -> list[str]:
    """Ids of the built-in segments this profile is in at ``now``, in catalogue order."""
    return [seg for seg, keep in compiled(now_ms).items() if keep(profile)]


def memberships(agg: dict, now_ms: int) -> list[str]:
    """Ids of the built-in segments a customer with these aggregates is in at ``now``."""
    return memberships_of(Profile("", agg=agg), now_ms)
