"""The item predicate is API.md "Segments", "Precisely", to the millisecond: how a window
counts a compacted history (the 50 most recent times of a type exact, older ones as UTC
daily counts, a day counting only when it lies wholly inside the window), groups, refunds,
per-plan outreach and missing attributes. The reference the columnar back end must equal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain import aggregates, rules
from chalicelib.domain.aggregates import DAY_MS
from chalicelib.domain.compiler import Compiler, compile_rule, event_counter
from chalicelib.domain.events import EVENT_ADAPTER
from chalicelib.domain.explain import explain
from chalicelib.domain.profile import Profile
from tests.unit.segment_profiles import EXTRA, NOW_MS
from tests.unit.test_rules_compiler import Resolver

HOUR = 3_600_000
MIDNIGHT_MS = NOW_MS - 12 * HOUR            # NOW is 12:00 UTC; this is 00:00 the same day
_seq = iter(range(10**9))


def at(etype: str, ms: int, **extra):
    """One validated event at ``ms`` (epoch milliseconds, exactly)."""
    moment = datetime.fromtimestamp(ms // 1000, UTC) + timedelta(milliseconds=ms % 1000)
    data = {"event_id": f"x{next(_seq)}", "type": etype, "customer_id": "c1",
            "occurred_at": moment.isoformat(), **EXTRA.get(etype, {})}
    if etype in ("order_paid", "order_refunded") and "order_id" not in extra:
        extra["order_id"] = f"o{next(_seq)}"
    data.update(extra)
    return EVENT_ADAPTER.validate_python(data)


def fold(events, now_ms: int = NOW_MS) -> Profile:
    agg = aggregates.empty()
    for e in events:
        aggregates.apply(agg, e)
    aggregates.prune(agg, now_ms)
    return Profile("c1", agg=agg)


def recent(etype: str, n: int, now_ms: int = NOW_MS) -> list:
    """``n`` events of a type in the hour before now: with n = 50, every older event of
    the type is kept only as a daily count."""
    return [at(etype, now_ms - HOUR + i) for i in range(n)]


def count(rule: dict, p: Profile, now_ms: int = NOW_MS) -> int:
    node = rules.parse(rule).rule
    return event_counter(node, *Compiler(now_ms, Resolver()).window(node))(p)


def holds(rule: dict, p: Profile, now_ms: int = NOW_MS) -> bool:
    parsed = rules.parse(rule)
    assert parsed.problems == [], parsed.problems
    return compile_rule(parsed.rule, now_ms, Resolver())(p)


WEEK = 7 * DAY_MS
EDGE = NOW_MS - WEEK                          # the far edge of a 7-day window: 12:00 UTC
EDGE_DAY_START = EDGE - 12 * HOUR             # 00:00 of the edge's (partial) day
NEXT_DAY = EDGE + 12 * HOUR                   # 00:00 of the first whole day inside


@pytest.mark.parametrize("recent_n, older_ms, expected", [
    # at most 50 events of the type: every time exact, to the millisecond
    (0, EDGE, 1),
    (0, EDGE + 1, 1),
    (0, EDGE - 1, 0),
    (49, EDGE, 50),
    (49, EDGE - 1, 49),
    # more than 50: the older event is a daily count, and its day must lie wholly inside
    (50, EDGE, 50),                # exactly at the edge, but its day straddles it
    (50, EDGE + 1, 50),            # one ms inside: the same partial day
    (50, EDGE - 1, 50),            # one ms outside
    (50, NEXT_DAY - 1, 50),        # the last ms of the partial day
    (50, NEXT_DAY, 51),            # the first ms of the first whole day
    (50, EDGE_DAY_START, 50),      # the partial day's first ms: before the edge
    (50, MIDNIGHT_MS - 1, 51),     # the last whole day before today
], ids=["le50-at-edge", "le50-1ms-inside", "le50-1ms-outside", "50th-at-edge",
        "50th-1ms-outside", "gt50-at-edge", "gt50-1ms-inside", "gt50-1ms-outside",
        "gt50-end-of-partial-day", "gt50-first-whole-day", "gt50-partial-day-start",
        "gt50-yesterday"])
def test_a_window_never_counts_the_partial_day_at_its_far_edge(recent_n, older_ms, expected):
    p = fold(recent("live_viewed", recent_n) + [at("live_viewed", older_ms)])
    rule = {"event": "live_viewed", "within_days": 7, "count": {"gte": 0}}
    assert count(rule, p) == expected
    assert holds({**rule, "count": {"gte": expected}}, p) is True
    assert holds({**rule, "count": {"gte": expected + 1}}, p) is False
    assert holds({**rule, "count": {"lte": expected - 1}}, p) is False if expected else True


def test_a_day_beginning_exactly_at_the_far_edge_lies_wholly_inside_and_counts():
    now = MIDNIGHT_MS                                  # a window whose edge is a midnight
    p = fold(recent("live_viewed", 50, now) + [at("live_viewed", now - WEEK),
                                               at("live_viewed", now - WEEK - 1)])
    assert count({"event": "live_viewed", "within_days": 7}, p, now) == 51


def test_a_day_straddling_the_far_edge_counts_none_of_its_events_inside_the_window():
    day = [at("video_viewed", EDGE_DAY_START + i * HOUR) for i in range(24)]   # 12 in, 12 out
    p = fold(recent("video_viewed", 50) + day)
    assert count({"event": "video_viewed", "within_days": 7}, p) == 50
    assert holds({"event": "video_viewed", "within_days": 7, "count": {"gte": 51}}, p) is False
    assert holds({"event": "video_viewed", "within_days": 8, "count": {"gte": 74}}, p) is True


def test_overflow_of_the_day_now_falls_in_does_not_lie_wholly_inside_and_does_not_count():
    # 60 events this morning: the 10 oldest become today's daily count; today is not over
    p = fold([at("product_viewed", MIDNIGHT_MS + i * 60_000) for i in range(60)])
    assert count({"event": "product_viewed", "within_days": 1}, p) == 50
    assert count({"event": "product_viewed", "within_days": 1}, p, MIDNIGHT_MS + DAY_MS - 1) == 60


@pytest.mark.parametrize("group, member", [
    ("engaged", "live_clicked"), ("engaged", "product_card_clicked"),
    ("video_engaged", "video_liked"), ("live_engaged", "live_viewed"),
    ("cart_or_review", "review_left"), ("view_or_favorite", "favorited"),
])
def test_a_group_counts_each_member_type_by_the_same_whole_day_rule(group, member):
    p = fold(recent(member, 50) + [at(member, EDGE + 1), at(member, NEXT_DAY)])
    assert count({"event": group, "within_days": 7}, p) == 51
    assert holds({"event": group, "within_days": 7, "count": {"gte": 52}}, p) is False


@pytest.mark.parametrize("paid, expected", [
    (50, 50),     # at most 50 paid orders: exact
    (51, 50),     # the oldest one, at the edge, falls in the partial day
], ids=["50-orders", "51-orders"])
def test_raw_order_paid_counts_refunded_orders_by_the_same_whole_day_rule(paid, expected):
    events = [at("order_paid", EDGE + (paid - 1 - i) * HOUR, order_id=f"o{i}") for i in range(paid)]
    events += [at("order_refunded", NOW_MS - 1, order_id=f"o{i}") for i in range(paid)]
    p = fold(events)
    assert count({"event": "order_paid", "within_days": 7}, p) == expected
    # the order group and the order figures stay exact, and leave every refunded order out
    assert count({"event": "order", "within_days": 7}, p) == 0
    assert (p.order_count, p.last_order_ms) == (0, None)


def test_the_order_group_stays_exact_at_the_far_edge_whatever_the_count():
    events = [at("order_paid", NOW_MS - HOUR + i, order_id=f"n{i}") for i in range(60)]
    events += [at("order_paid", EDGE, order_id="edge"), at("order_paid", EDGE - 1, order_id="out")]
    p = fold(events)
    assert count({"event": "order", "within_days": 7}, p) == 61
    assert count({"event": "order_paid", "within_days": 7}, p) == 50 + 0   # 12 older, none whole-day


def test_raw_order_refunded_and_followed_use_the_whole_day_rule_too():
    for etype in ("order_refunded", "followed"):
        p = fold(recent(etype, 50) + [at(etype, EDGE), at(etype, NEXT_DAY)])
        assert count({"event": etype, "within_days": 7}, p) == 51, etype


def test_explain_reports_the_count_the_window_compared():
    p = fold(recent("live_viewed", 50) + [at("live_viewed", EDGE + 1)])
    rule = {"event": "live_viewed", "within_days": 7, "count": {"gte": 51}}
    compiler = Compiler(NOW_MS, Resolver())
    member, conditions = explain(rules.parse(rule).rule, p, compiler, lambda n: n, {})
    assert (member, conditions[0]["saw"]) == (False, 50)


def test_the_aggregates_window_count_follows_the_same_rule():
    p = fold(recent("cart_added", 50) + [at("cart_added", EDGE + 1), at("cart_added", NEXT_DAY)])
    agg = {"recent": p.times, "daily": p.daily}
    assert aggregates.count_in_window(agg, "cart_added", EDGE, NOW_MS) == 51


# ----- attributes ------------------------------------------------------------------------

def orders(*amounts: str, refunded: tuple[str, ...] = ()) -> Profile:
    events = [at("order_paid", NOW_MS - (i + 1) * DAY_MS, order_id=f"o{i}", amount=a)
              for i, a in enumerate(amounts)]
    events += [at("order_refunded", NOW_MS - HOUR, order_id=f"o{amounts.index(a)}")
               for a in refunded]
    return fold(events)


@pytest.mark.parametrize("p, op, value, expected", [
    (orders("0.01", "0.04"), "eq", "0.03", True),          # 0.025 rounds half-up
    (orders("0.01", "0.04"), "eq", "0.025", False),
    (orders("0.01", "0.04"), "gte", "0.03", True),
    (orders("0.01", "0.04"), "lte", "0.025", False),
    (orders("10.00", "10.00", "10.01"), "eq", "10.00", True),
    (orders("10.00", "10.00", "10.02"), "eq", "10.01", True),   # 10.00666.. -> 10.01
    (orders("10.00", "20.00", refunded=("20.00",)), "eq", "10.00", True),
    (orders("10.00", refunded=("10.00",)), "exists", False, True),
], ids=["half-up", "not-unrounded", "gte-rounded", "lte-rounded", "rounds-down",
        "rounds-up", "refund-leaves", "all-refunded-has-none"])
def test_avg_order_value_is_total_paid_over_order_count_rounded_half_up_to_cents(
        p, op, value, expected):
    assert holds({"attr": "avg_order_value", "op": op, "value": value}, p) is expected


def test_a_customer_without_a_counting_order_has_zero_orders_and_paid_present():
    for p in (fold([]), orders("5.00", refunded=("5.00",))):
        assert holds({"attr": "order_count", "op": "eq", "value": 0}, p) is True
        assert holds({"attr": "total_paid", "op": "eq", "value": "0.00"}, p) is True
        assert holds({"attr": "total_paid", "op": "exists", "value": True}, p) is True
        for name in ("avg_order_value", "first_order_at", "last_order_at"):
            assert holds({"attr": name, "op": "exists", "value": False}, p) is True, name


@pytest.mark.parametrize("stored, op, value, expected", [
    ("th-TH", "eq", "th-TH", True),
    ("th-TH", "eq", "th", False),
    ("th", "eq", "th-TH", False),
    ("th-TH", "eq", "th-th", False),
    ("en-US", "in", ["en", "en-us"], False),
    ("en-US", "in", ["en", "en-US"], True),
    ("th-TH", "ne", "th", True),
    ("th-TH", "not_in", ["th"], True),
    (None, "ne", "th", False),
    (None, "exists", False, True),
])
def test_language_compares_the_tag_as_stored_case_and_all(stored, op, value, expected):
    assert holds({"attr": "language", "op": op, "value": value},
                 Profile("c1", language=stored)) is expected


@pytest.mark.parametrize("stored, value, expected", [
    ("Chiang Mai", "chiang mai", True),
    ("  Chiang Mai ", "CHIANG MAI", True),
    ("Chiang Mai", "  chiang mai  ", True),
    ("Chiang  Mai", "chiang mai", False),      # inner spaces are not outer ones
    ("ChiangMai", "chiang mai", False),
])
def test_region_compares_case_insensitively_with_outer_spaces_trimmed(stored, value, expected):
    p = Profile("c1", region=stored)
    assert holds({"attr": "region", "op": "eq", "value": value}, p) is expected
    assert holds({"attr": "region", "op": "in", "value": [value, "Bangkok"]}, p) is expected
    assert holds({"attr": "region", "op": "ne", "value": value}, p) is (not expected)


@pytest.mark.parametrize("op, value", [("eq", "unknown"), ("ne", "unknown"), ("in", ["unknown"]),
                                       ("not_in", ["female"])])
def test_gender_absent_is_not_unknown(op, value):
    assert holds({"attr": "gender", "op": op, "value": value}, Profile("c1")) is False
    assert holds({"attr": "gender", "op": op, "value": value},
                 Profile("c1", gender="unknown")) is (op in ("eq", "in", "not_in"))


def follower(followed_ms: int, *later) -> Profile:
    return fold([at("followed", followed_ms), *later])


@pytest.mark.parametrize("ago_ms, op, value, expected", [
    (30 * DAY_MS, "lte", 30, True),
    (31 * DAY_MS - 1, "lte", 30, True),          # 30 days and 23:59:59.999 is 30 days
    (31 * DAY_MS, "lte", 30, False),
    (7 * DAY_MS, "gte", 7, True),
    (7 * DAY_MS - 1, "gte", 7, False),
    (int(6.75 * DAY_MS), "gte", 6.5, False),     # 6 whole days is not >= 6.5
    (7 * DAY_MS, "gte", 6.5, True),
    (int(6.75 * DAY_MS), "lte", 6.5, True),      # 6 whole days is <= 6.5
    (11 * DAY_MS - 1, "between", [7, 10], True),
    (11 * DAY_MS, "between", [7, 10], False),
    (7 * DAY_MS - 1, "between", [7, 10], False),
    (0, "between", [0, 0], True),
    (-60_000, "gte", 0, True),                   # a follow a minute ahead: 0 days
    (-60_000, "lte", 0, True),
    (-60_000, "gte", 1, False),
])
def test_followed_days_is_whole_days_since_the_follow_rounded_down(ago_ms, op, value, expected):
    p = follower(NOW_MS - ago_ms)
    assert holds({"attr": "followed_days", "op": op, "value": value}, p) is expected


@pytest.mark.parametrize("ago_ms, inside", [
    (30 * DAY_MS, True), (int(30.5 * DAY_MS), True), (31 * DAY_MS - 1, True), (31 * DAY_MS, False),
])
def test_new_followers_uses_followed_days_lte_30(ago_ms, inside):
    from chalicelib.domain import builtins

    p = follower(NOW_MS - ago_ms)
    assert ("new_followers" in builtins.memberships_of(p, NOW_MS)) is inside


def test_followed_days_counts_from_the_first_follow_after_the_latest_unfollow():
    p = follower(NOW_MS - 100 * DAY_MS, at("unfollowed", NOW_MS - 50 * DAY_MS),
                 at("followed", NOW_MS - 20 * DAY_MS), at("followed", NOW_MS - 2 * DAY_MS))
    assert holds({"attr": "followed_days", "op": "between", "value": [20, 20]}, p) is True


def test_explain_shows_followed_days_as_the_whole_days_it_compared():
    p = follower(NOW_MS - 31 * DAY_MS + 1)
    rule = {"attr": "followed_days", "op": "lte", "value": 30}
    member, conditions = explain(rules.parse(rule).rule, p, Compiler(NOW_MS, Resolver()),
                                 lambda n: n, {})
    assert (member, conditions[0]["saw"]) == (True, 30)


# ----- per-plan outreach -----------------------------------------------------------------

def read(plan: str, ms: int):
    return at("message_read", ms, plan_id=plan)


def plan_count(p: Profile, plan: str, days: int = 365) -> int:
    return count({"event": "message_read", "within_days": days, "plan_id": plan}, p)


def test_per_plan_conditions_see_the_200_most_recent_plans_exactly():
    import random

    events = [read(f"p{i:03d}", NOW_MS - (300 - i) * DAY_MS // 2) for i in range(201)]
    events += [read("p200", NOW_MS - HOUR), read("p200", NOW_MS - 2 * HOUR)]
    for order in (events, events[::-1], random.Random(7).sample(events, len(events))):
        p = fold(order)
        assert len(p.plans) == 200
        assert plan_count(p, "p000") == 0            # the 201st most recent: matches nothing
        assert holds({"event": "message_read", "within_days": 365, "plan_id": "p000",
                      "count": {"lte": 0}}, p) is True
        assert [plan_count(p, f"p{i:03d}") for i in (1, 150, 199)] == [1, 1, 1]
        assert plan_count(p, "p200") == 3
        assert plan_count(p, "p200", 1) == 2
        assert plan_count(p, "unknown") == 0


def test_which_plans_are_the_200_most_recent_does_not_depend_on_arrival_order():
    # 199 recent plans, then two plans tied at the boundary: one of them stays, always the same
    events = [read(f"p{i:03d}", NOW_MS - i * HOUR) for i in range(199)]
    tied = [read("tie-a", NOW_MS - 300 * HOUR), read("tie-b", NOW_MS - 300 * HOUR)]
    kept = {frozenset(fold(events + order).plans) for order in (tied, tied[::-1])}
    assert len(kept) == 1 and len(next(iter(kept))) == 200


@pytest.mark.parametrize("etype", ["unsubscribed", "voucher_claimed", "voucher_redeemed",
                                   "order", "cart_added"])
def test_plan_id_goes_only_with_message_read_clicked_and_replied(etype):
    parsed = rules.parse({"event": etype, "within_days": 7, "plan_id": "p1"})
    assert [pr["path"] for pr in parsed.problems] == ["rule.plan_id"]
    for ok in ("message_read", "message_clicked", "message_replied"):
        assert rules.parse({"event": ok, "within_days": 7, "plan_id": "p1"}).problems == []


@pytest.mark.parametrize("days_ago, ok", [(0, True), (3650, True), (3651, False), (36_500, False),
                                          (-1, False)])
def test_a_relative_time_is_0_to_3650_days_ago(days_ago, ok):
    parsed = rules.parse({"attr": "first_order_at", "op": "gte", "value": {"days_ago": days_ago}})
    assert [pr["path"] for pr in parsed.problems] == ([] if ok else ["rule.value"])


@pytest.mark.parametrize("value, ok", [
    ([{"days_ago": 30}, {"days_ago": 0}], True),
    ([{"days_ago": 7}, {"days_ago": 7}], True),
    ([{"days_ago": 0}, {"days_ago": 30}], False),
    (["2026-01-01T00:00:00Z", "2026-06-01T00:00:00+07:00"], True),
    (["2026-06-01T00:00:00Z", "2026-01-01T00:00:00Z"], False),
    (["2026-06-01T07:00:00+07:00", "2026-06-01T00:00:00Z"], True),    # the same moment
    (["2026-06-01T00:00:00Z", {"days_ago": 0}], True),                # mixed: read at now
])
def test_a_reversed_between_is_400_for_times_too(value, ok):
    parsed = rules.parse({"attr": "last_order_at", "op": "between", "value": value})
    assert [pr["path"] for pr in parsed.problems] == ([] if ok else ["rule.value"])
