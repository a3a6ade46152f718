"""Pure tag rules: names, colours, change arithmetic, rules in order, health figures."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from chalicelib.domain import tags
from chalicelib.domain.aggregates import DAY_MS, empty
from chalicelib.domain.tag_rules import Change, RuleAction, TagRuleCreate, run_rules, trigger_key

NOW = 1_800_000_000_000


@pytest.mark.parametrize("a,b", [("paid", "Paid "), ("Paid", "PAID"), ("p aid", "Paid"),
                                 ("VIP\tGold", "vipgold")])
def test_names_compare_ignoring_case_and_spaces(a, b):
    assert tags.norm_name(a) == tags.norm_name(b)


@pytest.mark.parametrize("name,ok", [("vip", True), ("  VIP  gold ", True), ("a,b", False),
                                     ("   ", False), ("x" * 50, True), ("x" * 51, False),
                                     ("tab\x01", False)])
def test_tag_name_rules(name, ok):
    body = {"name": name, "dimension": "custom"}
    if ok:
        assert tags.TagCreate.model_validate(body).name == " ".join(name.split())
    else:
        with pytest.raises(ValidationError):
            tags.TagCreate.model_validate(body)


def test_every_dimension_has_a_distinct_default_colour():
    assert set(tags.DIMENSION_COLORS) == {"spending_power", "interest", "purchase_stage",
                                          "source_channel", "interaction_frequency", "custom"}
    assert len(set(tags.DIMENSION_COLORS.values())) == 6


@pytest.mark.parametrize("current,add,remove,after,added,removed", [
    (None, ["a"], [], {"a"}, ["a"], []),
    ({"a"}, ["a"], [], {"a"}, [], []),                 # already there: no change
    ({"a", "b"}, [], ["b", "c"], {"a"}, [], ["b"]),    # removing what is not there: no change
    ({"a"}, ["b"], ["a"], {"b"}, ["b"], ["a"]),
    ({"a"}, [], ["a"], set(), [], ["a"]),
])
def test_adding_a_tag_already_there_is_no_change(current, add, remove, after, added, removed):
    assert tags.apply_change(current, add, remove) == (after, added, removed)


def test_unknown_names_are_named_by_their_path():
    ids, bad = tags.resolve_names(["VIP", "ghost", "vip"], {"vip": "t1"}, "add")
    assert ids == ["t1"]
    assert bad == [{"path": "add[1]", "message": "tag 'ghost' does not exist"}]


@pytest.mark.parametrize("count,level", [(0, "few"), (14, "few"), (15, "starter"),
                                         (20, "starter"), (21, "growing"), (49, "growing"),
                                         (50, "mature"), (80, "mature"), (81, "large"),
                                         (100, "large"), (101, "too_many")])
def test_tag_count_guidance(count, level):
    assert tags.guidance(count)["level"] == level


@pytest.mark.parametrize("a,b,near", [
    ("high_value", "High-Value", True), ("voucher", "vouchers", True),
    ("vip", "vips", False),            # short names: one letter is a different tag
    ("loyal", "royal", True), ("loyal", "lapsed", False), ("Paid", "Unpaid", False),
    ("new customer", "new_customers", True),
])
def test_near_duplicate_names(a, b, near):
    assert (tags.near_duplicates([a, b]) == [sorted([a, b], key=str.casefold)]) is near


def agg_with(last_ms: int | None) -> dict:
    agg = empty()
    if last_ms is not None:
        agg["last"]["product_viewed"] = last_ms
    return agg


def test_tally_counts_assignments_and_stale_ones():
    customers = [
        ({"a", "b"}, agg_with(NOW - 10 * DAY_MS), NOW - 400 * DAY_MS),   # active
        ({"a"}, agg_with(NOW - 181 * DAY_MS), NOW - 400 * DAY_MS),       # stale by activity
        ({"a"}, agg_with(None), NOW - 200 * DAY_MS),                     # never active, old
        ({"b"}, agg_with(None), NOW - 5 * DAY_MS),                       # never active, new
        (None, agg_with(None), NOW),
    ]
    total, per_tag = tags.tally(customers, NOW)
    assert total == 5
    assert (per_tag["a"].customers, per_tag["a"].stale) == (3, 2)
    assert (per_tag["b"].customers, per_tag["b"].stale) == (2, 0)


@pytest.mark.parametrize("days_idle,stale", [(179, False), (180, False), (181, True)])
def test_stale_means_no_interaction_for_180_days(days_idle, stale):
    _, per_tag = tags.tally([({"a"}, agg_with(NOW - days_idle * DAY_MS), 0)], NOW)
    assert bool(per_tag["a"].stale) is stale


def test_health_report_flags_silent_oversized_and_stale_tags():
    total, per_tag = 10, {"big": tags.TagStats(5, 0), "ok": tags.TagStats(4, 1),
                          "used": tags.TagStats(1, 0)}
    report = tags.health([("big", "Big"), ("ok", "OK"), ("used", "Used"), ("none", "Empty")],
                         total, per_tag, {"used": NOW - 29 * DAY_MS, "ok": NOW - 31 * DAY_MS},
                         NOW)
    assert report["tag_count"] == 4 and report["customers"] == 10
    assert [s["tag"] for s in report["silent"]] == ["Big", "OK"]   # assigned, unused 30 days
    assert report["oversized"] == [{"tag": "Big", "share": 0.5, "customers": 5}]
    assert report["stale"] == [{"tag": "OK", "customers": 1}]
    assert report["guidance"]["level"] == "few"


@pytest.mark.parametrize("share_of_10,oversized", [(4, False), (5, True)])
def test_oversized_means_more_than_40_percent(share_of_10, oversized):
    report = tags.health([("t", "T")], 10, {"t": tags.TagStats(share_of_10, 0)}, {}, NOW)
    assert bool(report["oversized"]) is oversized


def test_rules_apply_in_order_and_credit_the_last_rule():
    rules = [RuleAction("r1", ("x",), ()), RuleAction("r2", ("y",), ("x",)),
             RuleAction("r3", ("z",), ())]
    after, changes = run_rules({"old"}, rules, lambda r: r.rule_id != "r3", {"x", "y", "z", "old"})
    assert after == {"old", "y"}
    assert changes == [Change("r2", "y", "added")]   # x came and went: nothing to audit


def test_rules_skip_deleted_tags_and_report_removals():
    rules = [RuleAction("r1", ("gone", "new"), ("old",))]
    after, changes = run_rules({"old"}, rules, lambda r: True, {"new", "old"})
    assert after == {"new"}
    assert changes == [Change("r1", "new", "added"), Change("r1", "old", "removed")]


def test_a_rule_that_changes_nothing_reports_nothing():
    after, changes = run_rules({"a"}, [RuleAction("r1", ("a",), ("b",))], lambda r: True,
                               {"a", "b"})
    assert (after, changes) == ({"a"}, [])


@pytest.mark.parametrize("trigger,key", [({"event": "order_paid"}, "event:order_paid"),
                                         ({"daily": True}, "daily")])
def test_rule_triggers(trigger, key):
    body = TagRuleCreate.model_validate({"name": "r", "trigger": trigger, "add": ["a"]})
    assert trigger_key(body.trigger.model_dump()) == key


@pytest.mark.parametrize("body", [
    {"name": "r", "trigger": {"event": "order_paid"}},                  # does nothing
    {"name": "r", "trigger": {"event": "live_started"}, "add": ["a"]},  # not a customer event
    {"name": "r", "trigger": {"daily": False}, "add": ["a"]},
    {"name": "", "trigger": {"daily": True}, "add": ["a"]},
    {"name": "r", "trigger": {"event": {"x": 1}}, "add": ["a"]},
    {"name": "r", "trigger": {"event": ["order_paid"]}, "add": ["a"]},
    {"name": "r", "trigger": {"daily": [True]}, "add": ["a"]},
    {"name": "r", "trigger": [], "add": ["a"]},
])
def test_bad_rule_bodies(body):
    with pytest.raises(ValidationError):
        TagRuleCreate.model_validate(body)
