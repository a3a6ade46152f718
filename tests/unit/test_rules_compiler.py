"""The compiled predicate: each attribute, op, event condition and tag mode on profiles."""

from __future__ import annotations

import pytest

from chalicelib.domain import builtins, rules
from chalicelib.domain.compiler import compile_rule, select
from chalicelib.domain.profile import Profile
from tests.unit.segment_profiles import NOW_MS, event, order, profile


class Resolver:
    def __init__(self, segments: dict | None = None, tags: dict | None = None) -> None:
        self.segments = {**builtins.BUILTIN_RULES, **(segments or {})}
        self.tags = tags or {}

    def segment(self, segment_id):
        return self.segments.get(segment_id)

    def tag_id(self, name):
        return self.tags.get(name.casefold())


def holds(rule: dict, p, resolver: Resolver | None = None) -> bool:
    parsed = rules.parse(rule)
    assert parsed.problems == [], parsed.problems
    return compile_rule(parsed.rule, NOW_MS, resolver or Resolver())(p)


THAI = profile(age=30, gender="female", region="Chiang Mai", language="th-TH")
BLANK = profile()


@pytest.mark.parametrize("rule, p, expected", [
    ({"attr": "age", "op": "eq", "value": 30}, THAI, True),
    ({"attr": "age", "op": "ne", "value": 30}, THAI, False),
    ({"attr": "age", "op": "in", "value": [29, 30]}, THAI, True),
    ({"attr": "age", "op": "not_in", "value": [29, 31]}, THAI, True),
    ({"attr": "age", "op": "gte", "value": 30}, THAI, True),
    ({"attr": "age", "op": "gte", "value": 31}, THAI, False),
    ({"attr": "age", "op": "lte", "value": 30}, THAI, True),
    ({"attr": "age", "op": "between", "value": [30, 30]}, THAI, True),
    ({"attr": "age", "op": "between", "value": [18, 29]}, THAI, False),
    ({"attr": "age", "op": "exists", "value": True}, THAI, True),
    ({"attr": "gender", "op": "eq", "value": "female"}, THAI, True),
    ({"attr": "gender", "op": "in", "value": ["male", "unknown"]}, THAI, False),
    # API.md: region compares case-insensitively with outer spaces trimmed (only those);
    # language compares the BCP-47 tag as stored, case and all (th is not th-TH)
    ({"attr": "region", "op": "eq", "value": " chiang MAI "}, THAI, True),
    ({"attr": "region", "op": "eq", "value": "chiang  mai"}, THAI, False),
    ({"attr": "region", "op": "not_in", "value": ["Bangkok"]}, THAI, True),
    ({"attr": "language", "op": "eq", "value": "th-TH"}, THAI, True),
    ({"attr": "language", "op": "eq", "value": "th"}, THAI, False),
    ({"attr": "language", "op": "eq", "value": "th-th"}, THAI, False),
    ({"attr": "language", "op": "eq", "value": "th-LA"}, THAI, False),
    ({"attr": "language", "op": "in", "value": ["vi", "en"]}, THAI, False),
    ({"attr": "language", "op": "in", "value": ["th", "th-TH"]}, THAI, True),
    ({"attr": "language", "op": "ne", "value": "vi"}, THAI, True),
    ({"attr": "language", "op": "not_in", "value": ["th"]}, THAI, True),
    ({"attr": "language", "op": "not_in", "value": ["th-TH"]}, THAI, False),
], ids=lambda v: str(v)[:60] if isinstance(v, dict) else None)
def test_demographic_conditions(rule, p, expected):
    assert holds(rule, p) is expected


@pytest.mark.parametrize("stored, op, value, expected", [
    ("th-TH", "eq", "th", False),          # no primary-subtag matching
    ("th-TH", "eq", "th-TH", True),
    ("th-TH", "eq", "th-th", False),       # case and all
    ("th", "eq", "th", True),
    ("th", "eq", "th-TH", False),
    ("th", "eq", "TH", False),
    ("en-US", "eq", "en-us", False),
    ("th-TH", "ne", "th", True),
    ("th-TH", "ne", "th-TH", False),
    ("th-TH", "ne", "th-th", True),
    ("th-TH", "in", ["th", "vi"], False),
    ("th-TH", "in", ["th-TH", "vi"], True),
    ("th-TH", "in", ["th-th"], False),
    ("th", "in", ["th-TH", "th"], True),
    ("th-TH", "not_in", ["th"], True),
    ("th-TH", "not_in", ["th-TH"], False),
    ("th-TH", "not_in", ["TH-TH", "th-th"], True),
    (None, "eq", "th", False),             # no language: fails all but exists false
    (None, "ne", "th", False),
    (None, "in", ["th"], False),
    (None, "not_in", ["th"], False),
    (None, "exists", False, True),
    ("th-TH", "exists", True, True),
])
def test_language_compares_the_stored_tag_exactly_case_and_all(stored, op, value, expected):
    assert holds({"attr": "language", "op": op, "value": value}, profile(language=stored)) \
        is expected


@pytest.mark.parametrize("rule", [
    {"attr": "age", "op": "eq", "value": 30},
    {"attr": "age", "op": "ne", "value": 30},
    {"attr": "age", "op": "not_in", "value": [1]},
    {"attr": "age", "op": "lte", "value": 200},
    {"attr": "gender", "op": "ne", "value": "male"},
    {"attr": "gender", "op": "eq", "value": "unknown"},
    {"attr": "region", "op": "not_in", "value": ["Java"]},
    {"attr": "language", "op": "ne", "value": "th"},
    {"attr": "followed_days", "op": "gte", "value": 0},
    {"attr": "avg_order_value", "op": "gte", "value": 0},
    {"attr": "first_order_at", "op": "lte", "value": {"days_ago": 0}},
    {"attr": "last_order_at", "op": "gte", "value": "2000-01-01T00:00:00Z"},
], ids=lambda v: f"{v['attr']}-{v['op']}")
def test_a_customer_without_the_attribute_fails_every_condition_but_exists_false(rule):
    assert holds(rule, BLANK) is False
    assert holds({"attr": rule["attr"], "op": "exists", "value": False}, BLANK) is True
    assert holds({"attr": rule["attr"], "op": "exists", "value": True}, BLANK) is False


BUYER = profile(*order(10, "30.00"), *order(40, "50.50"), *order(200, "19.50"),
                *order(5, "999.00", refunded_days_ago=4))


@pytest.mark.parametrize("rule, expected", [
    ({"attr": "order_count", "op": "eq", "value": 3}, True),
    ({"attr": "order_count", "op": "gte", "value": 4}, False),
    ({"attr": "total_paid", "op": "eq", "value": "100"}, True),
    ({"attr": "total_paid", "op": "between", "value": [100, "100.00"]}, True),
    ({"attr": "total_paid", "op": "gte", "value": 100.01}, False),
    ({"attr": "avg_order_value", "op": "between", "value": ["33.33", "33.34"]}, True),
    ({"attr": "first_order_at", "op": "lte", "value": {"days_ago": 200}}, True),
    ({"attr": "first_order_at", "op": "lte", "value": {"days_ago": 201}}, False),
    ({"attr": "last_order_at", "op": "gte", "value": {"days_ago": 10}}, True),
    ({"attr": "last_order_at", "op": "gte", "value": {"days_ago": 9}}, False),
    ({"attr": "last_order_at", "op": "between", "value": [{"days_ago": 30}, {"days_ago": 0}]}, True),
    ({"attr": "first_order_at", "op": "gte", "value": "2026-05-07T12:00:00Z"}, True),
    ({"attr": "first_order_at", "op": "gte", "value": "2026-05-07T12:00:00.001Z"}, False),
    ({"event": "order", "within_days": 30}, True),
    ({"event": "order", "within_days": 9}, False),
    ({"event": "order", "within_days": 40, "count": {"gte": 2}}, True),
    ({"event": "order", "within_days": 365, "count": {"gte": 3, "lte": 3}}, True),
    ({"event": "order_paid", "within_days": 30, "count": {"gte": 2}}, True),
    ({"event": "order", "within_days": 30, "amount": {"gte": "30"}}, True),
    ({"event": "order", "within_days": 40, "amount": {"gte": "80.51"}}, False),
    ({"event": "order", "within_days": 365, "amount": {"gte": 100, "lte": 100}}, True),
    ({"event": "order_refunded", "within_days": 7}, True),
], ids=lambda v: str(v)[:60] if isinstance(v, dict) else None)
def test_purchase_conditions_count_paid_orders_that_were_not_refunded(rule, expected):
    assert holds(rule, BUYER) is expected


@pytest.mark.parametrize("events, rule, expected", [
    ([event("followed", 10)], {"attr": "is_follower", "op": "eq", "value": True}, True),
    ([event("followed", 10), event("unfollowed", 1)], {"attr": "is_follower", "op": "eq", "value": True}, False),
    ([], {"attr": "is_follower", "op": "ne", "value": True}, True),
    ([event("followed", 30)], {"attr": "followed_days", "op": "lte", "value": 30}, True),
    # whole days, rounded down (API.md): 30.01 days is 30 days; 31 is not
    ([event("followed", 30.01)], {"attr": "followed_days", "op": "lte", "value": 30}, True),
    ([event("followed", 31)], {"attr": "followed_days", "op": "lte", "value": 30}, False),
    ([event("followed", 7)], {"attr": "followed_days", "op": "gte", "value": 7}, True),
    ([event("followed", 6.99)], {"attr": "followed_days", "op": "gte", "value": 7}, False),
    ([event("followed", 10)], {"attr": "followed_days", "op": "between", "value": [7, 10]}, True),
    ([event("followed", 11)], {"attr": "followed_days", "op": "between", "value": [7, 10]}, False),
    ([event("followed", 11), event("unfollowed", 2)], {"attr": "followed_days", "op": "exists", "value": True}, False),
], ids=lambda v: str(v)[:50] if isinstance(v, dict) else None)
def test_follow_conditions(events, rule, expected):
    assert holds(rule, profile(*events)) is expected


@pytest.mark.parametrize("events, rule, expected", [
    ([event("cart_added", 3)], {"event": "cart_or_review", "within_days": 3}, True),
    ([event("review_left", 3)], {"event": "cart_or_review", "within_days": 2}, False),
    ([event("product_viewed", 5), event("favorited", 6)],
     {"event": "view_or_favorite", "within_days": 7, "count": {"gte": 2}}, True),
    ([event("video_liked", 1)], {"event": "video_engaged", "within_days": 1}, True),
    ([event("live_viewed", 1)], {"event": "video_engaged", "within_days": 30}, False),
    ([event("live_clicked", 1)], {"event": "live_engaged", "within_days": 30}, True),
    ([event("product_card_clicked", 30)], {"event": "engaged", "within_days": 30}, True),
    ([event("product_card_clicked", 31)], {"event": "engaged", "within_days": 30}, False),
    ([], {"event": "message_read", "within_days": 60, "count": {"lte": 0}}, True),
    ([event("message_read", 59)], {"event": "message_read", "within_days": 60, "count": {"lte": 0}}, False),
    ([event("message_read", 61)], {"event": "message_read", "within_days": 60, "count": {"lte": 0}}, True),
    ([event("message_clicked", 2, plan_id="p7")],
     {"event": "message_clicked", "within_days": 7, "plan_id": "p7"}, True),
    ([event("message_clicked", 2, plan_id="p7")],
     {"event": "message_clicked", "within_days": 7, "plan_id": "p8"}, False),
    ([event("message_replied", 2, plan_id="p7")],
     {"event": "message_replied", "within_days": 7, "plan_id": "p7"}, True),
    ([event("unsubscribed", 2)], {"event": "unsubscribed", "within_days": 7}, True),
    # 50 exact (days 1-50), then one a day as daily counts: days 51-59 lie wholly inside
    # the window; day 60's event is at the far edge, in a partial day, so it never counts
    ([event("live_viewed", d) for d in range(1, 80)],
     {"event": "live_viewed", "within_days": 60, "count": {"gte": 59}}, True),
    ([event("live_viewed", d) for d in range(1, 80)],
     {"event": "live_viewed", "within_days": 60, "count": {"gte": 60}}, False),
], ids=lambda v: str(v)[:50] if isinstance(v, dict) else None)
def test_event_conditions_count_in_the_window(events, rule, expected):
    assert holds(rule, profile(*events)) is expected


TAGS = Resolver(tags={"vip": "t-vip", "paid": "t-paid", "churn_risk": "t-churn"})
TAGGED = profile(tags=("t-vip", "t-paid"))


@pytest.mark.parametrize("rule, expected", [
    ({"tags": {"any": ["VIP", "churn_risk"]}}, True),
    ({"tags": {"any": ["churn_risk"]}}, False),
    ({"tags": {"all": ["vip", "paid"]}}, True),
    ({"tags": {"all": ["vip", "churn_risk"]}}, False),
    ({"tags": {"none": ["churn_risk"]}}, True),
    ({"tags": {"none": ["paid"]}}, False),
    ({"tags": {"all": ["vip", "deleted-tag"]}}, False),
    ({"tags": {"none": ["deleted-tag"]}}, True),
    ({"tag_ids": {"all": ["t-vip"]}}, True),
])
def test_tag_conditions(rule, expected):
    assert holds(rule, TAGGED, TAGS) is expected


YOUNG = {"attr": "age", "op": "lte", "value": 25}
FEMALE = {"attr": "gender", "op": "eq", "value": "female"}


@pytest.mark.parametrize("rule, expected", [
    ({"all": [YOUNG, FEMALE]}, False),
    ({"any": [YOUNG, FEMALE]}, True),
    ({"not": YOUNG}, True),
    ({"all": [FEMALE, {"not": YOUNG}, {"any": [YOUNG, {"segment": "mine"}]}]}, True),
    ({"segment": "loyal"}, False),
    ({"not": {"segment": "gone"}}, True),
], ids=["all", "any", "not", "nested", "builtin_reuse", "vanished_reference_never_holds"])
def test_composites_and_segment_reuse(rule, expected):
    resolver = Resolver(segments={"mine": {"attr": "region", "op": "exists", "value": True},
                                  "gone": YOUNG})
    parsed = rules.parse(rule)
    if "gone" in str(rule):
        del resolver.segments["gone"]
    assert compile_rule(parsed.rule, NOW_MS, resolver)(THAI) is expected


def test_a_segment_reference_loop_cannot_hold_and_does_not_recurse_forever():
    resolver = Resolver(segments={"a": {"segment": "b"}, "b": {"any": [{"segment": "a"}, YOUNG]}})
    assert compile_rule({"segment": "a"}, NOW_MS, resolver)(THAI) is False


def test_select_returns_matching_ids_in_order():
    people = [profile(customer_id=f"c{i}", age=20 + i) for i in range(10)]
    keep = compile_rule(rules.parse({"attr": "age", "op": "between", "value": [22, 24]}).rule,
                        NOW_MS, Resolver())
    assert select(keep, people) == ["c2", "c3", "c4"]


@pytest.mark.parametrize("events, expected", [
    ([event("favorited", -1), event("favorited", 5)], True),
    ([event("favorited", -1)], False),
    ([event("favorited", 11)], False),
], ids=["latest_after_now_but_one_inside", "only_after_now", "only_before"])
def test_at_least_once_looks_past_a_latest_time_after_now(events, expected):
    assert holds({"event": "view_or_favorite", "within_days": 10}, profile(*events)) is expected


def test_at_least_once_agrees_with_counting_on_random_histories():
    import random

    from chalicelib.domain.compiler import event_counter

    rng = random.Random(3)
    kinds = ["cart_added", "favorited", "product_viewed", "live_viewed", "video_liked",
             "product_card_clicked", "review_left"]
    for _ in range(200):
        # half the histories pile one type past the 50 exact times kept (whole-day overflow)
        pool = kinds if rng.random() < 0.5 else ["live_viewed"]
        evs = [event(rng.choice(pool), rng.uniform(-3, 200)) for _ in range(rng.randint(0, 120))]
        p = profile(*evs)
        for name in ["engaged", "cart_or_review", "view_or_favorite", "favorited"]:
            for days in (1, 7, 30, 90):
                node = rules.parse({"event": name, "within_days": days}).rule
                counted = event_counter(node, NOW_MS - days * 86_400_000, NOW_MS)(p)
                assert compile_rule(node, NOW_MS, Resolver())(p) is (counted >= 1)


class CountedAge(Profile):
    """A profile counting how often a rule reads its age."""
    __slots__ = ("_age", "reads")

    @property
    def age(self):
        self.reads += 1
        return self._age

    @age.setter
    def age(self, value):
        self.reads, self._age = 0, value


def test_a_reused_segment_is_decided_once_per_customer_however_often_it_is_named():
    # seg{k} names seg{k-1} twice: without deciding each segment once, 2^8 age reads
    segments = {"seg0": {"attr": "age", "op": "gte", "value": 18}}
    for k in range(1, 9):
        segments[f"seg{k}"] = {"any": [{"not": {"segment": f"seg{k - 1}"}},
                                       {"segment": f"seg{k - 1}"}]}
    keep = compile_rule({"segment": "seg8"}, NOW_MS, Resolver(segments))
    p = CountedAge("c1", age=30)
    assert keep(p) is True
    assert p.reads == 1
    other = CountedAge("c2", age=10)
    assert keep(other) is True and other.reads == 1
