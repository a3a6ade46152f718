"""The rule grammar of API.md: every node, normalisation, and each bad node named by its
JSON path."""

from __future__ import annotations

import pytest

from chalicelib.domain import reuse, rules

AGE = {"attr": "age", "op": "gte", "value": 18}


@pytest.mark.parametrize("rule, normalised", [
    ({"all": [AGE]}, {"all": [AGE]}),
    ({"any": [AGE, {"attr": "gender", "op": "eq", "value": "female"}]},
     {"any": [AGE, {"attr": "gender", "op": "eq", "value": "female"}]}),
    ({"not": AGE}, {"not": AGE}),
    ({"segment": "loyal"}, {"segment": "loyal"}),
    ({"attr": "region", "op": "in", "value": [" Java ", "Bali"]},
     {"attr": "region", "op": "in", "value": ["Java", "Bali"]}),
    ({"attr": "language", "op": "not_in", "value": ["th", "en-US"]},
     {"attr": "language", "op": "not_in", "value": ["th", "en-US"]}),
    ({"attr": "is_follower", "op": "eq", "value": True},
     {"attr": "is_follower", "op": "eq", "value": True}),
    ({"attr": "followed_days", "op": "between", "value": [7, 30.5]},
     {"attr": "followed_days", "op": "between", "value": [7, 30.5]}),
    ({"attr": "order_count", "op": "ne", "value": 0}, {"attr": "order_count", "op": "ne", "value": 0}),
    ({"attr": "total_paid", "op": "gte", "value": 100}, {"attr": "total_paid", "op": "gte", "value": "100"}),
    ({"attr": "avg_order_value", "op": "between", "value": ["10.5", 99.9]},
     {"attr": "avg_order_value", "op": "between", "value": ["10.5", "99.9"]}),
    ({"attr": "first_order_at", "op": "lte", "value": {"days_ago": 60}},
     {"attr": "first_order_at", "op": "lte", "value": {"days_ago": 60}}),
    ({"attr": "last_order_at", "op": "gte", "value": "2026-10-01T00:00:00Z"},
     {"attr": "last_order_at", "op": "gte", "value": "2026-10-01T00:00:00Z"}),
    ({"attr": "age", "op": "exists", "value": False}, {"attr": "age", "op": "exists", "value": False}),
    ({"event": "favorited", "within_days": 7},
     {"event": "favorited", "within_days": 7, "count": {"gte": 1}}),
    ({"event": "order", "within_days": 90, "count": {"gte": 2, "lte": 5}},
     {"event": "order", "within_days": 90, "count": {"gte": 2, "lte": 5}}),
    ({"event": "engaged", "within_days": 365, "count": {"lte": 0}},
     {"event": "engaged", "within_days": 365, "count": {"lte": 0}}),
    ({"event": "message_clicked", "within_days": 14, "plan_id": "p1"},
     {"event": "message_clicked", "within_days": 14, "count": {"gte": 1}, "plan_id": "p1"}),
    ({"event": "order", "within_days": 30, "amount": {"gte": 50}},
     {"event": "order", "within_days": 30, "count": {"gte": 1}, "amount": {"gte": "50"}}),
    ({"tags": {"any": ["vip", "vip", "paid"]}}, {"tags": {"any": ["vip", "paid"]}}),
    ({"tags": {"none": ["churn_risk"]}}, {"tags": {"none": ["churn_risk"]}}),
    ({"tag_ids": {"all": ["t1"]}}, {"tag_ids": {"all": ["t1"]}}),
], ids=lambda v: str(v)[:40] if isinstance(v, dict) else None)
def test_every_grammar_node_parses_and_normalises(rule, normalised):
    parsed = rules.parse(rule)
    assert parsed.problems == []
    assert parsed.rule == normalised


@pytest.mark.parametrize("group", ["order", "order_paid", "cart_or_review", "view_or_favorite",
                                   "video_engaged", "live_engaged", "engaged"])
def test_event_groups_are_event_types(group):
    assert rules.parse({"event": group, "within_days": 30}).problems == []


@pytest.mark.parametrize("days_ago, ok", [
    (0, True), (1, True), (3650, True), (-1, False), (3651, False), (36_500, False),
])
def test_days_ago_is_0_to_3650(days_ago, ok):
    rule = {"all": [AGE, {"not": {"attr": "first_order_at", "op": "gte",
                                  "value": {"days_ago": days_ago}}}]}
    parsed = rules.parse(rule)
    if ok:
        assert parsed.problems == []
        assert parsed.rule == rule
    else:
        assert [p["path"] for p in parsed.problems] == ["rule.all[1].not.value"]
        assert "3650" in parsed.problems[0]["message"]


@pytest.mark.parametrize("rule, path", [
    ([], "rule"),
    ({}, "rule"),
    ({"all": [AGE], "any": [AGE]}, "rule"),
    ({"all": []}, "rule.all"),
    ({"all": AGE}, "rule.all"),
    ({"all": [AGE, "age"]}, "rule.all[1]"),
    ({"all": [AGE, {"attr": "age", "op": "bigger", "value": 1}]}, "rule.all[1].op"),
    ({"any": [AGE, {"attr": "height", "op": "eq", "value": 1}]}, "rule.any[1].attr"),
    ({"not": {"attr": "age", "op": "gte"}}, "rule.not.value"),
    ({"attr": "age", "op": "gte", "value": 18, "extra": 1}, "rule.extra"),
    ({"attr": "age", "op": "gte", "value": "18"}, "rule.value"),
    ({"attr": "age", "op": "gte", "value": True}, "rule.value"),
    ({"attr": "age", "op": "between", "value": [30, 20]}, "rule.value"),
    ({"attr": "age", "op": "between", "value": [30]}, "rule.value"),
    ({"attr": "age", "op": "in", "value": []}, "rule.value"),
    ({"attr": "age", "op": "in", "value": [1, "x"]}, "rule.value[1]"),
    ({"attr": "age", "op": "exists", "value": "yes"}, "rule.value"),
    ({"attr": "gender", "op": "eq", "value": "other"}, "rule.value"),
    ({"attr": "gender", "op": "gte", "value": "female"}, "rule.op"),
    ({"attr": "language", "op": "eq", "value": "thai language"}, "rule.value"),
    ({"attr": "region", "op": "eq", "value": "  "}, "rule.value"),
    ({"attr": "is_follower", "op": "eq", "value": "yes"}, "rule.value"),
    ({"attr": "is_follower", "op": "in", "value": [True]}, "rule.op"),
    ({"attr": "followed_days", "op": "eq", "value": 3}, "rule.op"),
    ({"attr": "followed_days", "op": "lte", "value": -1}, "rule.value"),
    ({"attr": "total_paid", "op": "gte", "value": "ten"}, "rule.value"),
    ({"attr": "total_paid", "op": "gte", "value": "-5"}, "rule.value"),
    ({"attr": "total_paid", "op": "gte", "value": "NaN"}, "rule.value"),
    ({"attr": "first_order_at", "op": "lte", "value": "yesterday"}, "rule.value"),
    ({"attr": "first_order_at", "op": "lte", "value": "2026-10-01T00:00:00"}, "rule.value"),
    ({"attr": "first_order_at", "op": "lte", "value": {"days_ago": -1}}, "rule.value"),
    ({"attr": "first_order_at", "op": "between", "value": [{"days_ago": 1}, {"weeks": 1}]},
     "rule.value[1]"),
    ({"attr": "first_order_at", "op": "eq", "value": {"days_ago": 1}}, "rule.op"),
    ({"event": "teleported", "within_days": 3}, "rule.event"),
    ({"event": "order"}, "rule.within_days"),
    ({"event": "order", "within_days": 0}, "rule.within_days"),
    ({"event": "order", "within_days": 366}, "rule.within_days"),
    ({"event": "order", "within_days": 1.5}, "rule.within_days"),
    ({"event": "order", "within_days": 30, "count": {"gte": -1}}, "rule.count.gte"),
    ({"event": "order", "within_days": 30, "count": {"gte": 3, "lte": 1}}, "rule.count"),
    ({"event": "order", "within_days": 30, "count": {"more": 1}}, "rule.count"),
    ({"event": "order", "within_days": 30, "count": {}}, "rule.count"),
    ({"event": "order", "within_days": 30, "plan_id": "p1"}, "rule.plan_id"),
    ({"event": "message_read", "within_days": 30, "plan_id": 7}, "rule.plan_id"),
    ({"event": "favorited", "within_days": 30, "amount": {"gte": 1}}, "rule.amount"),
    ({"event": "order", "within_days": 30, "amount": {"gte": "x"}}, "rule.amount.gte"),
    ({"segment": ""}, "rule.segment"),
    ({"segment": 12}, "rule.segment"),
    ({"tags": ["vip"]}, "rule.tags"),
    ({"tags": {"some": ["vip"]}}, "rule.tags"),
    ({"tags": {"any": ["vip"], "none": ["x"]}}, "rule.tags"),
    ({"tags": {"any": []}}, "rule.tags.any"),
    ({"tags": {"all": ["vip", ""]}}, "rule.tags.all[1]"),
    ({"all": [AGE, {"any": [AGE, {"not": {"event": "order", "within_days": 999}}]}]},
     "rule.all[1].any[1].not.within_days"),
], ids=lambda v: str(v)[:50] if not isinstance(v, str) else v)
def test_a_bad_node_is_named_by_its_json_path(rule, path):
    parsed = rules.parse(rule)
    assert parsed.rule is None
    assert [p["path"] for p in parsed.problems] == [path]
    assert all(p["message"] for p in parsed.problems)


def test_every_bad_node_is_reported_not_only_the_first():
    rule = {"all": [{"attr": "agee", "op": "gte", "value": 1},
                    {"attr": "age", "op": "zz", "value": 1},
                    {"event": "order", "within_days": 0}]}
    assert [p["path"] for p in rules.parse(rule).problems] == [
        "rule.all[0].attr", "rule.all[1].op", "rule.all[2].within_days"]


def test_the_path_prefix_is_the_callers():
    parsed = rules.parse({"all": [{"attr": "age", "op": "zz", "value": 1}]}, "filter")
    assert parsed.problems[0]["path"] == "filter.all[0].op"


@pytest.mark.parametrize("rule, conditions, warned", [
    ({"attr": "age", "op": "gte", "value": 18}, 1, True),
    ({"all": [AGE, {"segment": "loyal"}]}, 2, True),
    ({"all": [AGE, {"segment": "loyal"}, {"not": {"tags": {"any": ["x"]}}}]}, 3, False),
    ({"any": [AGE, AGE, AGE, AGE]}, 4, False),
])
def test_fewer_than_three_conditions_is_a_warning_never_an_error(rule, conditions, warned):
    parsed = rules.parse(rule)
    assert parsed.problems == [] and parsed.conditions == conditions
    assert bool(rules.warnings_for(parsed)) is warned


def test_references_and_tag_names_are_collected_with_their_paths():
    parsed = rules.parse({"any": [{"segment": "loyal"}, {"tags": {"all": ["a", "b"]}}]})
    assert parsed.segment_refs == [("rule.any[0].segment", "loyal")]
    assert parsed.tag_names == [("rule.any[1].tags.all[0]", "a"), ("rule.any[1].tags.all[1]", "b")]


def test_oversized_rules_are_refused():
    deep: dict = AGE
    for _ in range(rules.MAX_DEPTH + 2):
        deep = {"not": deep}
    assert rules.parse(deep).problems
    wide = {"any": [AGE] * (rules.MAX_CHILDREN + 1)}
    assert [p["path"] for p in rules.parse(wide).problems] == ["rule.any"]


@pytest.mark.parametrize("start, stored, editing, cycle", [
    ({"a"}, {"a": {"segment": "b"}, "b": {"attr": "age", "op": "gte", "value": 1}}, None, None),
    ({"a"}, {"a": {"segment": "b"}, "b": {"segment": "c"}, "c": AGE}, "c", ["a", "b", "c"]),
    ({"x"}, {"x": AGE}, "x", ["x"]),
    ({"a"}, {"a": {"all": [{"segment": "b"}, {"segment": "c"}]}, "b": AGE, "c": {"segment": "e"}},
     "e", ["a", "c", "e"]),
])
def test_segment_reuse_cycles_are_found(start, stored, editing, cycle):
    assert rules.find_cycle(start, stored, editing) == cycle


class CountingRules(dict):
    """The stored rules, counting how often a segment's rule is looked up."""
    lookups = 0

    def get(self, key, default=None):
        self.lookups += 1
        return super().get(key, default)


def ladder(n: int) -> CountingRules:
    """seg0 is a plain rule; seg{k} reuses seg{k-1} twice (and seg{k-2}): 2^n paths."""
    stored = CountingRules(seg0=AGE, seg1={"segment": "seg0"})
    for k in range(2, n):
        stored[f"seg{k}"] = {"all": [{"segment": f"seg{k - 1}"},
                                     {"not": {"segment": f"seg{k - 1}"}},
                                     {"segment": f"seg{k - 2}"}]}
    return stored


def test_the_segment_cycle_check_reads_each_segment_once():
    stored = ladder(20)
    assert rules.find_cycle({"seg19"}, stored, None) is None
    assert stored.lookups <= 20
    stored.lookups = 0
    assert rules.find_cycle({"seg19"}, stored, "seg0")[-1] == "seg0"
    assert stored.lookups <= 20


@pytest.mark.parametrize("top, deep", [(reuse.MAX_REUSE_DEPTH, False),
                                       (reuse.MAX_REUSE_DEPTH + 1, True)])
def test_a_chain_of_reused_segments_is_at_most_max_reuse_depth_deep(top, deep):
    stored = ladder(top + 1)
    graph = {k: rules.references(v) for k, v in stored.items()}
    problem = reuse.reuse_problem({f"seg{top - 1}"}, graph, None)
    assert (problem is not None) is deep
    if deep:
        assert problem.reference == f"seg{top - 1}" and f"{top} deep" in problem.message


def test_editing_a_reused_segment_counts_the_chains_of_the_segments_above_it():
    # top -> mid -> bottom; giving bottom a chain of its own lengthens top's chain too
    graph = {"top": {"mid"}, "mid": {"bottom"}, "bottom": set(),
             **{f"c{i}": ({f"c{i + 1}"} if i < 6 else set()) for i in range(7)}}
    problem = reuse.reuse_problem({"c0"}, graph, "bottom")
    assert problem is not None and "'top'" in problem.message and problem.reference == "c0"
    assert reuse.reuse_problem({"c3"}, graph, "bottom") is None


@pytest.mark.parametrize("count, wide", [(reuse.MAX_REUSED, False), (reuse.MAX_REUSED + 1, True)])
def test_a_rule_reaches_at_most_max_reused_segments(count, wide):
    graph = {f"s{i}": set() for i in range(count)}
    problem = reuse.reuse_problem(set(graph), graph, None)
    assert (problem is not None) is wide


def test_the_reuse_limits_read_each_segment_once():
    stored = ladder(400)
    graph = {k: rules.references(v) for k, v in stored.items()}
    reads = []

    class Reads(dict):
        def get(self, key, default=None):
            reads.append(key)
            return super().get(key, default)

    assert reuse.reuse_problem({"seg399"}, Reads(graph), None) is not None
    assert len(reads) == len(set(reads)) <= 400
