"""Explain (why a customer is in or out) and insights (who the members are) on profiles."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.domain import builtins, insights, rules
from chalicelib.domain.compiler import Compiler, compile_rule
from chalicelib.domain.explain import explain
from tests.unit.segment_profiles import NOW_MS, event, order, profile


class Resolver:
    def segment(self, segment_id):
        return {**builtins.BUILTIN_RULES, "spenders": SPENDERS}.get(segment_id)

    def tag_id(self, name):
        return {"vip": "t1"}.get(name)


SPENDERS = {"attr": "total_paid", "op": "gte", "value": "50"}


def why(rule: dict, p) -> tuple[bool, dict[str, dict]]:
    normalised = rules.parse(rule).rule
    member, conditions = explain(normalised, p, Compiler(NOW_MS, Resolver()), lambda n: n,
                                 {"t1": "vip"})
    assert member is compile_rule(normalised, NOW_MS, Resolver())(p)
    return member, {c["path"]: c for c in conditions}


def test_explain_reports_every_condition_with_what_it_saw():
    p = profile(*order(10, "30.00"), *order(40, "40.00"), event("followed", 12), age=41,
                tags=("t1",))
    member, by_path = why({"all": [
        {"attr": "age", "op": "lte", "value": 40},
        {"event": "order", "within_days": 30, "count": {"gte": 2}},
        {"attr": "followed_days", "op": "lte", "value": 30},
        {"tags": {"any": ["vip"]}},
        {"not": {"attr": "total_paid", "op": "gte", "value": 100}},
        {"attr": "first_order_at", "op": "exists", "value": True},
    ]}, p)
    assert member is False
    assert by_path[""]["saw"] == {"held": 4, "of": 6} and by_path[""]["held"] is False
    assert (by_path["all[0]"]["held"], by_path["all[0]"]["saw"]) == (False, 41)
    assert (by_path["all[1]"]["held"], by_path["all[1]"]["saw"]) == (False, 1)
    assert (by_path["all[2]"]["held"], by_path["all[2]"]["saw"]) == (True, 12.0)
    assert (by_path["all[3]"]["held"], by_path["all[3]"]["saw"]) == (True, ["vip"])
    assert (by_path["all[4]"]["held"], by_path["all[4]"]["saw"]) == (True, False)
    assert (by_path["all[4].not"]["held"], by_path["all[4].not"]["saw"]) == (False, "70.00")
    assert by_path["all[5]"]["saw"].endswith("Z")
    assert by_path["all[0]"]["condition"] == {"attr": "age", "op": "lte", "value": 40}


@pytest.mark.parametrize("stored, condition, held", [
    ("th-TH", {"attr": "language", "op": "eq", "value": "th"}, False),
    ("th-TH", {"attr": "language", "op": "eq", "value": "th-th"}, False),
    ("th-TH", {"attr": "language", "op": "in", "value": ["th-TH"]}, True),
    ("th-TH", {"attr": "language", "op": "not_in", "value": ["th"]}, True),
    ("th", {"attr": "language", "op": "ne", "value": "th"}, False),
    (None, {"attr": "language", "op": "ne", "value": "th"}, False),
])
def test_explain_compares_the_stored_language_tag_exactly_as_membership_does(stored, condition,
                                                                             held):
    member, by_path = why({"all": [condition, {"attr": "age", "op": "exists", "value": False}]},
                          profile(language=stored))
    assert member is held
    assert (by_path["all[0]"]["held"], by_path["all[0]"]["saw"]) == (held, stored)


@pytest.mark.parametrize("segment, events, member", [
    ("repeat", order(10) + order(40), True),
    ("repeat", order(10), False),
    ("lapsed", order(100), True),
])
def test_explain_a_builtin_walks_its_rule(segment, events, member):
    got, by_path = why({"segment": segment}, profile(*events))
    assert got is member and by_path[""]["saw"] == {"member": member}
    assert by_path["segment"]["held"] is member
    assert any(path.startswith("segment.") for path in by_path)


def test_explain_shows_a_reused_custom_segment_under_its_path():
    member, by_path = why({"any": [{"segment": "spenders"}, {"attr": "age", "op": "exists",
                                                             "value": True}]},
                          profile(*order(3, "60.00")))
    assert member is True
    assert by_path["any[0]"]["condition"] == {"segment": "spenders"}
    assert by_path["any[0].segment"]["saw"] == "60.00"


def test_explain_reports_order_amounts_in_the_window():
    _, by_path = why({"event": "order", "within_days": 30, "amount": {"gte": 50}},
                     profile(*order(3, "20.00"), *order(20, "35.50"), *order(50, "99.00")))
    assert by_path[""]["saw"] == {"count": 2, "amount": "55.50"} and by_path[""]["held"] is True


@pytest.mark.parametrize("age, band", [(None, "unknown"), (0, "<18"), (17, "<18"), (18, "18-24"),
                                       (24, "18-24"), (25, "25-34"), (44, "35-44"),
                                       (54, "45-54"), (55, "55+"), (99, "55+")])
def test_age_bands(age, band):
    assert insights.age_band(age) == band


@pytest.mark.parametrize("amount, band", [("0", "0-10"), ("9.99", "0-10"), ("10", "10-50"),
                                          ("49.99", "10-50"), ("50", "50-100"),
                                          ("100", "100-500"), ("499.99", "100-500"),
                                          ("500", "500+")])
def test_price_bands_include_their_lower_bound(amount, band):
    assert insights.price_band(Decimal(amount)) == band


def test_insights_summarise_members_over_the_last_365_days():
    members = [
        profile(*order(10, "20.00"), *order(400, "1000.00"), event("followed", 3), age=30,
                gender="female", region="Java", language="id", customer_id="a"),
        profile(*order(100, "120.00"), *order(5, "9.00", refunded_days_ago=4), age=17,
                gender="male", region="Java", customer_id="b"),
        profile(customer_id="c"),
    ]
    got = insights.summarise(members, NOW_MS)
    assert got["size"] == 3 and got["follower_share"] == pytest.approx(0.3333)
    assert got["gender"] == {"female": 1, "male": 1, "unknown": 1}
    assert got["age_bands"]["25-34"] == 1 and got["age_bands"]["<18"] == 1
    assert got["age_bands"]["unknown"] == 1
    assert got["regions"] == {"Java": 2, "unknown": 1}
    assert got["languages"] == {"id": 1, "unknown": 2}
    assert (got["orders"], got["gmv"], got["aov"]) == (2, "140.00", "70.00")
    assert got["price_bands"] == {"0-10": 0, "10-50": 1, "50-100": 0, "100-500": 1, "500+": 0}


def test_insights_of_an_empty_segment_are_zero_not_an_error():
    got = insights.summarise([], NOW_MS)
    assert (got["size"], got["follower_share"], got["orders"], got["gmv"], got["aov"]) == \
        (0, 0.0, 0, "0.00", "0.00")


def test_an_explanation_expands_each_reused_segment_once():
    segments = {"seg0": SPENDERS}
    for k in range(1, 11):
        segments[f"seg{k}"] = {"all": [{"segment": f"seg{k - 1}"},
                                       {"not": {"not": {"segment": f"seg{k - 1}"}}}]}

    class Ladder(Resolver):
        def segment(self, segment_id):
            return segments.get(segment_id) or super().segment(segment_id)

    p = profile(*order(3, "60.00"))
    member, conditions = explain({"segment": "seg10"}, p, Compiler(NOW_MS, Ladder()),
                                 lambda n: n, {})
    assert member is True
    assert len(conditions) <= 6 * len(segments)   # 2^10 paths would give thousands
    again = [c for c in conditions if "explained_at" in c]
    assert again and all(c["held"] is True for c in again)
    by_path = {c["path"]: c for c in conditions}
    assert all(c["explained_at"] in by_path for c in again)
