"""The columnar back end (domain/columnar.py run by chalicelib/columnar.py) gives the same
customers as the item predicate (domain/compiler.py) for every rule: random rules over
random histories (window edges, daily overflow, refunds, missing attributes, tags, plans,
segment reuse, every operator and event group), and the built-ins' boundary tables of
test_builtins.py run on both back ends.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import columnar as engine
from chalicelib.domain import aggregates, builtins, rules
from chalicelib.domain.aggregates import DAY_MS
from chalicelib.domain.columnar import COLUMNS, compile_sql, first_whole_day
from chalicelib.domain.compiler import compile_rule
from chalicelib.domain.profile import Profile
from tests.unit import test_builtins
from tests.unit.segment_profiles import NOW, NOW_MS, agg_of, event, order

TAGS = {"vip": "tag.vip", "new": "tag.new"}    # name -> id; "gone" resolves to nothing
PLANS = ("pl1", "pl2")


class Catalogue:
    def __init__(self, segments: dict[str, dict]) -> None:
        self.segments = segments

    def segment(self, segment_id: str) -> dict | None:
        return builtins.BUILTIN_RULES.get(segment_id) or self.segments.get(segment_id)

    def tag_id(self, name: str) -> str | None:
        return TAGS.get(name)


def both(rule: dict, profiles: list[Profile], resolver, now_ms: int = NOW_MS
         ) -> tuple[set[str], set[str]]:
    keep = compile_rule(rule, now_ms, resolver)
    items = {p.customer_id for p in profiles if keep(p)}
    con = engine.connect(threads=1)
    engine.load(con, profiles)
    cols = engine.matching_ids(con, "snapshot", rule, now_ms, resolver)
    # the same with the snapshot's latest time known (no list read for "at least once")
    latest = engine.latest_ms(con, "snapshot")
    assert engine.matching_ids(con, "snapshot", rule, now_ms, resolver, latest) == cols
    con.close()
    return items, cols


# ----- the far edge of a window (API.md, Segments, "Precisely") ---------------------------

def _burst(etype: str, first_days_ago: float, n: int) -> list:
    """n events of a type, one every 1/10 day going back from ``first_days_ago``: the oldest
    n - 50 leave the exact recent times for whole-day counts."""
    return [event(etype, first_days_ago + i / 10) for i in range(n)]


def _item_predicate_counts_the_partial_far_edge_day() -> bool:
    """True while the item predicate still counts a daily bucket on the window's first,
    partial day (the bug the "exact" change removes); then this test file adapts."""
    # 60 cart_added from 2.0 to 7.9 days ago: the 10 oldest (7.0-7.9 days ago, NOW is noon)
    # are daily counts on the day the 7-day window starts at noon.
    p = Profile("c", agg=agg_of(*_burst("cart_added", 2.0, 60)))
    keep = compile_rule({"event": "cart_added", "within_days": 7, "count": {"gte": 51}},
                        NOW_MS, Catalogue({}))
    return keep(p)


ITEM_FAR_EDGE_BUG = _item_predicate_counts_the_partial_far_edge_day()


def test_the_far_edge_partial_day_never_counts_on_the_columnar_back_end():
    p = Profile("c", agg=agg_of(*_burst("cart_added", 2.0, 60)))
    con = engine.connect(threads=1)
    engine.load(con, [p])
    got = {n: engine.matching_ids(con, "snapshot", {"event": "cart_added", "within_days": 7,
                                                    "count": {"gte": n}}, NOW_MS, Catalogue({}))
           for n in (50, 51)}
    # the 50 exact times (2.0-6.9 days ago) count; the far edge's partial day does not
    assert got == {50: {"c"}, 51: set()}


@pytest.mark.xfail(ITEM_FAR_EDGE_BUG, reason="the item predicate still counts the far edge's "
                   "partial day for > 50 events of a type (issue 11 part 4, the 'exact' change)",
                   strict=False)
def test_the_far_edge_partial_day_never_counts_on_the_item_back_end():
    assert not ITEM_FAR_EDGE_BUG


def test_first_whole_day_is_the_window_start_rounded_up_to_a_day():
    assert first_whole_day(10 * DAY_MS) == 10
    assert first_whole_day(10 * DAY_MS + 1) == 11
    assert first_whole_day(11 * DAY_MS - 1) == 11


def _far_edge_days(rule: dict, resolver, now_ms: int) -> set[int]:
    """The partial first and last days of every window of a rule (segments expanded)."""
    days: set[int] = set()
    seen: set[str] = set()

    def visit(node: dict, _path: str) -> None:
        if "event" in node:
            since = now_ms - node["within_days"] * DAY_MS
            if since % DAY_MS:
                days.add(since // DAY_MS)
            if (now_ms + 1) % DAY_MS:   # today, not whole until midnight
                days.add(now_ms // DAY_MS)
        if "segment" in node and node["segment"] not in seen:
            seen.add(node["segment"])
            sub = resolver.segment(node["segment"])
            if sub is not None:
                rules.walk(sub, visit)
    rules.walk(rule, visit)
    return days


def _without_days(p: Profile, days: set[int]) -> Profile:
    """``p`` without the daily counts on these days (where the two back ends are known to
    differ until the "exact" change lands)."""
    p.daily = {t: {d: n for d, n in b.items() if int(d) not in days} for t, b in p.daily.items()}
    return p


# ----- random rules ---------------------------------------------------------------------

ISO = [(NOW - timedelta(days=d)).isoformat().replace("+00:00", "Z") for d in (0, 30, 91, 400)]
MONEY = ["0", "10", "10.00", "15.5", "20.005", "33.3333", "9.99", "30"]
WINDOWS = [1, 2, 7, 30, 90, 365]
# One window per example, shared by the rule's event nodes and the customers' bursts, so
# whole-day counts land on that window's edges often enough to matter.
EDGE_WINDOW = st.shared(st.sampled_from(WINDOWS), key="edge")
BURST_TYPES = ("cart_added", "live_viewed", "video_liked")
BURST_TYPE = st.shared(st.sampled_from(BURST_TYPES), key="burst")


def _scalar(kind: str):
    return {
        "int": st.sampled_from([0, 1, 2, 17, 18, 30, 45]),
        "money": st.sampled_from(MONEY),
        "enum": st.sampled_from(rules.GENDERS),
        "text": st.sampled_from(["Bangkok", " bangkok ", "Hanoi", "chiang  mai"]),
        "language": st.sampled_from(["th", "th-TH", "TH-th", "en", "en-US", "vi"]),
        "bool": st.booleans(),
        "days": st.sampled_from([0, 1, 2.5, 7, 30, 31, 100]),
        "time": st.one_of(st.sampled_from(ISO),
                          st.sampled_from([0, 1, 30, 90, 365, 400]).map(lambda d: {"days_ago": d})),
    }[kind]


@st.composite
def attr_leaf(draw):
    name = draw(st.sampled_from(sorted(rules.ATTRS)))
    spec = rules.ATTRS[name]
    op = draw(st.sampled_from(sorted(spec.ops)))
    if op == "exists":
        value = draw(st.booleans())
    elif op in ("in", "not_in"):
        value = draw(st.lists(_scalar(spec.kind), min_size=1, max_size=3))
    elif op == "between" and spec.kind == "time":   # low first: both ISO or both days_ago
        if draw(st.booleans()):
            value = sorted(draw(st.lists(st.sampled_from(ISO), min_size=2, max_size=2)))
        else:
            days = sorted(draw(st.lists(st.sampled_from([0, 1, 30, 90, 365, 400]),
                                        min_size=2, max_size=2)), reverse=True)
            value = [{"days_ago": d} for d in days]
    elif op == "between":
        value = sorted([draw(_scalar(spec.kind)), draw(_scalar(spec.kind))], key=lambda v: float(v))
    else:
        value = draw(_scalar(spec.kind))
    return {"attr": name, "op": op, "value": value}


@st.composite
def event_leaf(draw):
    name = draw(st.one_of(st.sampled_from(sorted(rules.EVENT_NAMES)), BURST_TYPE, BURST_TYPE,
                          st.sampled_from(("engaged", "cart_or_review"))))
    days = draw(st.one_of(EDGE_WINDOW, EDGE_WINDOW, st.sampled_from(WINDOWS), st.integers(1, 365)))
    node = {"event": name, "within_days": days}
    count = draw(st.one_of(
        st.sampled_from([None, {"gte": 1}, {"gte": 2}, {"lte": 0}, {"lte": 1},
                         {"gte": 1, "lte": 3}, {"gte": 0}, {"gte": 50, "lte": 60}]),
        st.integers(49, 70).map(lambda n: {"gte": n}),
        st.integers(49, 70).map(lambda n: {"lte": n})))
    if count is not None:
        node["count"] = count
    if name in rules.PLAN_EVENTS and draw(st.booleans()):
        node["plan_id"] = draw(st.sampled_from(PLANS + ("pl9",)))
    if name in rules.ORDER_EVENTS and draw(st.booleans()):
        node["amount"] = draw(st.sampled_from([{"gte": "10"}, {"gte": "15.01"}, {"lte": "20"},
                                               {"gte": "9.995", "lte": "30"}]))
    return node


tag_leaf = st.one_of(
    st.builds(lambda m, v: {"tags": {m: v}}, st.sampled_from(["any", "all", "none"]),
              st.lists(st.sampled_from(["vip", "new", "gone"]), min_size=1, max_size=3)),
    st.builds(lambda m, v: {"tag_ids": {m: v}}, st.sampled_from(["any", "all", "none"]),
              st.lists(st.sampled_from(["tag.vip", "tag.new", "tag.x"]), min_size=1, max_size=3)))
segment_leaf = st.sampled_from(["s1", "s2", "missing", "loyal", "lapsed", "active_followers"]) \
    .map(lambda s: {"segment": s})
leaf = st.one_of(attr_leaf(), event_leaf(), event_leaf(), tag_leaf, segment_leaf)
raw_rule = st.recursive(leaf, lambda inner: st.one_of(
    st.lists(inner, min_size=1, max_size=3).map(lambda c: {"all": c}),
    st.lists(inner, min_size=1, max_size=3).map(lambda c: {"any": c}),
    inner.map(lambda c: {"not": c})), max_leaves=6)


def _normalised(raw: dict) -> dict:
    parsed = rules.parse(raw)
    assert parsed.problems == [], (raw, parsed.problems)
    return parsed.rule


# ----- random customers -----------------------------------------------------------------

EVENT_TYPES = sorted(rules.GROUPS["engaged"] + rules.GROUPS["cart_or_review"]
                     + rules.GROUPS["view_or_favorite"]
                     + ("followed", "unfollowed", "message_read", "message_clicked"))
# days ago: window edges (N days ago, a millisecond either side), and anywhere in a year
EDGE = 1 / 86_400_000
DAYS_AGO = st.one_of(
    st.sampled_from(WINDOWS).flatmap(lambda w: st.sampled_from([w - EDGE, w, w + EDGE])),
    st.floats(0, 365, allow_nan=False))


@st.composite
def history(draw):
    events = []
    for etype, ago in draw(st.lists(st.tuples(st.sampled_from(EVENT_TYPES), DAYS_AGO), max_size=6)):
        extra = {"plan_id": draw(st.sampled_from(PLANS))} if etype.startswith("message") else {}
        events.append(event(etype, min(ago, 365), **extra))
    for ago, amount, refund in draw(st.lists(st.tuples(
            DAYS_AGO, st.sampled_from(["5.00", "10.00", "9.99", "20.01"]),
            st.one_of(st.none(), st.floats(0, 1))), max_size=3)):
        ago = min(ago, 365)
        events += order(ago, amount, None if refund is None else ago * refund)
    if draw(st.booleans()):   # > 50 of a type: whole-day counts around a window edge
        edge = draw(EDGE_WINDOW)
        start = max(0.0, edge - 5.0 - draw(st.sampled_from([0, 0.3, 0.5, 0.8, 1.0, 1.5, 2.0])))
        events += _burst(draw(BURST_TYPE),
                         start, draw(st.integers(51, 75)))
    return events


@st.composite
def customer(draw, customer_id: str):
    return Profile(customer_id,
                   age=draw(st.sampled_from([None, 17, 18, 30, 45])),
                   gender=draw(st.sampled_from([None, *rules.GENDERS])),
                   region=draw(st.sampled_from([None, "Bangkok", " bangkok  ", "Hanoi", "Chiang Mai"])),
                   language=draw(st.sampled_from([None, "th", "th-TH", "TH-th", "en-US", "vi"])),
                   tags=frozenset(draw(st.lists(st.sampled_from(["tag.vip", "tag.new", "tag.x"])))),
                   agg=agg_of(*draw(history())))


@st.composite
def customers(draw):
    n = draw(st.integers(1, 6))
    return [draw(customer(f"c{i}")) for i in range(n)]


@settings(max_examples=200, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=raw_rule, s1=raw_rule, s2=raw_rule, profiles=customers())
def test_the_columnar_back_end_selects_the_same_customers_as_the_item_predicate(
        raw, s1, s2, profiles):
    s2 = {"all": [s2, {"segment": "s1"}]}    # reuse of a reuse; s1 naming s1/s2: a loop
    catalogue = Catalogue({"s1": _normalised(s1), "s2": _normalised(s2)})
    rule = _normalised(raw)
    if ITEM_FAR_EDGE_BUG:   # the one known difference, until the "exact" change lands
        days = _far_edge_days(rule, catalogue, NOW_MS)
        profiles = [_without_days(p, days) for p in profiles]
    items, cols = both(rule, profiles, catalogue)
    assert cols == items, (rule, compile_sql(rule, NOW_MS, catalogue)[0])


# ----- the built-ins' boundary tables on both back ends ----------------------------------

def _boundary_cases():
    for name in dir(test_builtins):
        fn = getattr(test_builtins, name)
        marks = [m for m in getattr(fn, "pytestmark", []) if m.name == "parametrize"]
        if not name.startswith("test_") or not marks:
            continue
        seg = max((s for s in builtins.BUILTIN_SEGMENTS if name.startswith(f"test_{s}_")), key=len)
        argnames, cases = marks[0].args
        assert argnames == "events, inside", name
        for case_id, (events, inside) in zip(marks[0].kwargs["ids"], cases, strict=True):
            yield pytest.param(seg, events, inside, id=f"{seg}-{case_id}")


@pytest.mark.parametrize("segment_id, events, inside", list(_boundary_cases()))
def test_builtin_boundaries_hold_on_both_back_ends(segment_id, events, inside):
    p = Profile("c1", agg=agg_of(*events))
    items, cols = both(builtins.BUILTIN_RULES[segment_id], [p], Catalogue({}))
    assert (items == {"c1"}, cols == {"c1"}) == (inside, inside)


def test_every_builtin_on_both_back_ends_over_one_mixed_population():
    population = [
        Profile("a", agg=agg_of(*order(10), *order(40), event("followed", 3), event("live_viewed", 2))),
        Profile("b", agg=agg_of(event("cart_added", 5))),
        Profile("c", agg=agg_of(*order(200), *order(10, refunded_days_ago=5))),
        Profile("d", agg=agg_of(*order(20))),
        Profile("e", agg=agg_of(*_burst("live_viewed", 0.5, 70), event("followed", 100))),
        Profile("f"),
    ]
    for seg, rule in builtins.BUILTIN_RULES.items():
        items, cols = both(rule, population, Catalogue({}))
        assert cols == items, seg


def test_the_snapshot_row_has_one_value_per_column():
    p = Profile("a", age=30, region=" Bangkok ", language="th-TH", tags=frozenset({"t"}),
                agg=agg_of(*order(10, amount="12.34"), event("message_read", 1, plan_id="pl1")))
    from chalicelib.domain.columnar import row_of
    row = dict(zip(COLUMNS, row_of(p), strict=True))
    assert (row["region_key"], row["lang_primary"], row["total_cents"], row["tags"]) == \
        ("bangkok", "th", 1234, ["t"])
    assert row["plans"] == [{"p": "pl1", "e": "message_read",
                             "t": [aggregates.to_ms(NOW - timedelta(days=1))]}]


def test_preview_is_the_size_and_the_smallest_ids():
    population = [Profile(f"c{i:02}", age=20 + i) for i in range(30)]
    con = engine.connect(threads=1)
    engine.load(con, population)
    got = engine.preview(con, "snapshot", {"attr": "age", "op": "gte", "value": 25}, NOW_MS,
                         Catalogue({}), sample_size=3)
    assert got == {"size": 25, "sample": ["c05", "c06", "c07"]}


@st.composite
def overflow_case(draw):
    """One event condition on a burst type (or its group) and customers with > 50 events of
    that type whose whole-day counts straddle the condition's window edges."""
    window = draw(st.sampled_from(WINDOWS[1:] + [draw(st.integers(6, 365))]))
    etype = draw(st.sampled_from(BURST_TYPES))
    group = {"cart_added": "cart_or_review", "live_viewed": "live_engaged",
             "video_liked": "engaged"}[etype]
    lo, hi = draw(st.integers(45, 80)), draw(st.integers(45, 80))
    count = draw(st.sampled_from([{"gte": lo}, {"lte": lo}, {"gte": min(lo, hi), "lte": max(lo, hi)}]))
    node = {"event": draw(st.sampled_from([etype, etype, group])), "within_days": window,
            "count": count}
    profiles = []
    for i in range(draw(st.integers(1, 4))):
        start = max(0.0, window - 5.0 - draw(st.floats(-1.0, 3.0, allow_nan=False)))
        events = _burst(etype, start, draw(st.integers(51, 80)))
        if draw(st.booleans()):
            events.append(event(etype, draw(DAYS_AGO)))
        profiles.append(Profile(f"c{i}", agg=agg_of(*events)))
    return node, profiles


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=overflow_case())
def test_window_counts_over_whole_day_overflow_agree_on_both_back_ends(case):
    node, profiles = case
    rule = _normalised(node)
    catalogue = Catalogue({})
    if ITEM_FAR_EDGE_BUG:
        days = _far_edge_days(rule, catalogue, NOW_MS)
        profiles = [_without_days(p, days) for p in profiles]
    items, cols = both(rule, profiles, catalogue)
    assert cols == items, (rule, compile_sql(rule, NOW_MS, catalogue)[0])


@pytest.mark.parametrize("follow_days_ago", [0.0, 0.5, 6.5, 7.0 - EDGE, 7.0, 7.0 + EDGE, 7.5, 8.0, 30.5])
@pytest.mark.parametrize("condition", [
    {"attr": "followed_days", "op": "lte", "value": 7},
    {"attr": "followed_days", "op": "gte", "value": 7},
    {"attr": "followed_days", "op": "between", "value": [1, 7]},
    {"attr": "followed_days", "op": "gte", "value": 2.5},
    {"event": "followed", "within_days": 7},
], ids=["lte_7", "gte_7", "between_1_7", "gte_2.5", "event_7"])
def test_follow_boundaries_hold_on_both_back_ends(condition, follow_days_ago):
    p = Profile("c1", agg=agg_of(event("followed", follow_days_ago)))
    items, cols = both(_normalised(condition), [p], Catalogue({}))
    assert cols == items


@pytest.mark.parametrize("orders, window", [(60, 7), (60, 30), (55, 3)])
def test_raw_order_paid_counts_past_50_orders_hold_on_both_back_ends(orders, window):
    events = [e for i in range(orders) for e in order(0.5 + i / 8)]
    p = Profile("c1", agg=agg_of(*events))
    for n in (50, 51, 55, 60):
        for count in ({"gte": n}, {"lte": n}):
            rule = _normalised({"event": "order_paid", "within_days": window, "count": count})
            items, cols = both(rule, [p], Catalogue({}))
            assert cols == items, rule
