"""A/B tests, the pure rules (chalicelib/domain/experiments.py): the chi-squared survival
function against published critical values, Pearson's statistic on worked tables, the
winner, the stable split, the plan form's rules, by_variant."""

from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from chalicelib.domain import experiments as ab
from chalicelib.domain.plans import PlanCreate, PlanPatch, send_problems, shape_problems

# Upper-tail critical values of the chi-squared distribution (NIST/SEMATECH e-Handbook,
# 1.3.6.7.4): P(X >= x) = p.
CRITICAL = [
    (1, 2.706, 0.10), (1, 3.841, 0.05), (1, 6.635, 0.01), (1, 10.828, 0.001),
    (2, 4.605, 0.10), (2, 5.991, 0.05), (2, 9.210, 0.01), (2, 13.816, 0.001),
    (3, 6.251, 0.10), (3, 7.815, 0.05), (3, 11.345, 0.01), (3, 16.266, 0.001),
]


@pytest.mark.parametrize(("df", "x", "p"), CRITICAL)
def test_chi2_survival_matches_published_critical_values(df, x, p):
    assert ab.chi2_sf(x, df) == pytest.approx(p, rel=2e-3)


def test_chi2_survival_is_one_at_zero_and_refuses_other_df():
    assert ab.chi2_sf(0.0, 2) == 1.0
    with pytest.raises(ValueError):
        ab.chi2_sf(1.0, 4)


# (successes, trials) per variant -> (chi-squared, df, p) worked by hand:
# 10/100 vs 20/100: expected 15 | 85 each, x = 2·25/15 + 2·25/85 = 3.9216, p = erfc(√1.9608).
# 10, 20, 30 of 100: expected 20 | 80, x = 5 + 5 + 1.25 + 1.25 = 12.5, p = e^-6.25.
# 5, 10, 15, 10 of 50: expected 10 | 40, x = 2.5 + 2.5 + 0.625 + 0.625 = 6.25 (p ≈ 0.10).
TABLES = [
    ([(10, 100), (20, 100)], 3.92157, 1, 0.04767),
    ([(10, 100), (20, 100), (30, 100)], 12.5, 2, math.exp(-6.25)),
    ([(5, 50), (10, 50), (15, 50), (10, 50)], 6.25, 3, 0.10002),
    ([(30, 100), (30, 100), (30, 100)], 0.0, 2, 1.0),
]


@pytest.mark.parametrize(("counts", "x", "df", "p"), TABLES)
def test_pearson_chi_squared_on_worked_tables(counts, x, df, p):
    stat, got_df = ab.chi_squared(counts)
    assert stat == pytest.approx(x, abs=1e-4) and got_df == df
    assert ab.p_value(counts) == pytest.approx(p, rel=1e-3, abs=1e-9)


@pytest.mark.parametrize("counts", [
    [(0, 100), (0, 100)],          # nobody succeeded: a zero row
    [(100, 100), (50, 50)],        # everybody did: a zero row
    [(5, 10), (0, 0)],             # one variant delivered to nobody: one column left
    [(0, 0), (0, 0)],
])
def test_p_value_is_null_when_undefined(counts):
    assert ab.p_value(counts) is None


def test_a_variant_with_no_trials_drops_out_of_the_table():
    assert ab.chi_squared([(10, 100), (20, 100), (0, 0)]) == ab.chi_squared([(10, 100), (20, 100)])


@pytest.mark.parametrize(("counts", "chosen", "winner"), [
    ({"a": (10, 100), "b": (20, 100)}, None, "b"),
    ({"a": (20, 100), "b": (20, 100)}, None, "a"),              # a tie: the first listed
    ({"a": (1, 10), "b": (10, 100), "c": (2, 10)}, None, "c"),
    ({"a": (0, 0), "b": (0, 5)}, None, "b"),                    # a rate of 0 beats no rate
    ({"a": (0, 0), "b": (0, 0)}, None, "a"),                    # no rates: the first listed
    ({"a": (10, 100), "b": (20, 100)}, "a", "a"),               # by hand
])
def test_the_winner_has_the_highest_rate_ties_to_the_first_listed(counts, chosen, winner):
    decision = ab.decide(list(counts), counts, chosen)
    assert decision["winner"] == winner


def test_the_decision_keeps_rates_and_p_value_for_a_hand_pick_too():
    decision = ab.decide(["a", "b"], {"a": (10, 100), "b": (20, 100)}, "a")
    assert decision["rates"] == {"a": 0.1, "b": 0.2}
    assert decision["p_value"] == pytest.approx(0.04767, rel=1e-3)
    assert ab.decide(["a", "b"], {"a": (3, 4)})["rates"] == {"a": 0.75, "b": None}


# ----- the split -------------------------------------------------------------------------

@pytest.mark.parametrize(("eligible", "percent", "size"), [
    (1000, 10, 100), (1000, 50, 500), (7, 50, 4), (3, 10, 0), (5, 10, 1), (0, 30, 0),
    (199, 1, 2), (150, 1, 2), (149, 1, 1),
])
def test_the_sample_is_the_percent_of_the_eligible_rounded_half_up(eligible, percent, size):
    assert ab.sample_size(eligible, percent) == size


@pytest.mark.parametrize(("count", "percent", "variants"), [
    (1000, 20, ["a", "b"]), (1001, 33, ["a", "b", "c"]), (250, 50, ["a", "b", "c", "d"]),
    (10, 40, ["a", "b", "c", "d"]),
])
def test_the_split_is_even_disjoint_and_complete(count, percent, variants):
    ids = [f"c{i:05d}" for i in range(count)]
    samples, rest = ab.split("pl_1", ids, percent, variants)
    sizes = [len(samples[v]) for v in variants]
    assert max(sizes) - min(sizes) <= 1
    assert sum(sizes) == ab.sample_size(count, percent)
    everyone = [c for v in variants for c in samples[v]] + rest
    assert sorted(everyone) == ids and len(set(everyone)) == count


def test_the_split_is_stable_whatever_the_order_and_differs_between_plans():
    ids = [f"c{i:04d}" for i in range(500)]
    first = ab.split("pl_1", ids, 20, ["a", "b"])
    assert ab.split("pl_1", list(reversed(ids)), 20, ["a", "b"]) == first
    assert ab.split("pl_2", ids, 20, ["a", "b"]) != first


def test_an_empty_variant_is_a_problem_and_a_small_one_a_warning():
    assert ab.sample_problems({"a": 1, "b": 0})[0]["path"] == "ab_test.sample_percent"
    assert ab.sample_problems({"a": 1, "b": 1}) == []
    warnings = ab.sample_warnings({"a": 99, "b": 100})
    assert len(warnings) == 1 and "'a'" in warnings[0]


# ----- the form --------------------------------------------------------------------------

def _variant(vid: str, **extra) -> dict:
    return {"variant_id": vid, "content": {"text": {"en": f"Hi from {vid}"}}, **extra}


BASE = {"name": "AB", "kind": "one_off", "audience": {"segment_ids": ["s"]},
        "product_ids": ["p1"]}


@pytest.mark.parametrize(("change", "path"), [
    ({"variants": [_variant("a")]}, "variants"),                                  # 1 < 2
    ({"variants": [_variant(x) for x in "abcde"]}, "variants"),                   # 5 > 4
    ({"variants": [_variant("a"), _variant("a")]}, "variants"),                   # not unique
    ({"variants": [_variant("a" * 21), _variant("b")]}, "variants.0.variant_id"),
    ({"variants": [_variant(""), _variant("b")]}, "variants.0.variant_id"),
    ({"variants": [{"variant_id": "a"}, _variant("b")]}, "variants.0.content"),
    ({"ab_test": {"sample_percent": 0}}, "ab_test.sample_percent"),
    ({"ab_test": {"sample_percent": 51}}, "ab_test.sample_percent"),
    ({"ab_test": {"sample_percent": 10, "metric": "revenue"}}, "ab_test.metric"),
    ({"ab_test": {"sample_percent": 10, "wait_minutes": 4321}}, "ab_test.wait_minutes"),
    ({"ab_test": {"sample_percent": 10, "wait_minutes": -1}}, "ab_test.wait_minutes"),
    ({"ab_test": {}}, "ab_test.sample_percent"),
])
def test_bad_variants_or_ab_test_are_refused_at_their_path(change, path):
    with pytest.raises(ValidationError) as caught:
        PlanCreate.model_validate({**BASE, **change})
    assert any(".".join(str(p) for p in e["loc"]).startswith(path) for e in caught.value.errors())


def test_ab_test_defaults_to_click_after_an_hour():
    body = PlanCreate.model_validate({**BASE, "variants": [_variant("a"), _variant("b")],
                                      "ab_test": {"sample_percent": 10}})
    assert (body.ab_test.metric, body.ab_test.wait_minutes) == ("click", 60)
    assert PlanPatch.model_validate({"ab_test": None}).model_fields_set == {"ab_test"}


@pytest.mark.parametrize(("plan", "path"), [
    ({"kind": "one_off", "variants": [{}], "ab_test": None}, "ab_test"),
    ({"kind": "one_off", "variants": None, "ab_test": {"sample_percent": 5}}, "variants"),
    ({"kind": "automated", "variants": [{}], "ab_test": {"sample_percent": 5}}, "variants"),
    ({"kind": "order_notice", "ab_test": {"sample_percent": 5}}, "ab_test"),
])
def test_variants_and_ab_test_go_together_on_one_off_plans_only(plan, path):
    assert {"path": path}.items() <= ab.shape_problems(plan)[0].items()


def test_a_plan_with_variants_needs_no_top_level_content_but_each_variant_products():
    plan = {"kind": "one_off", "channels": ["chat"], "audience": {"segment_ids": ["s"]},
            "content": None, "product_ids": [],
            "variants": [_variant("a", product_ids=["p1"]), _variant("b")],
            "ab_test": {"sample_percent": 10}}
    assert [p["path"] for p in send_problems(plan)] == ["variants[1].product_ids"]
    assert send_problems({**plan, "product_ids": ["p2"]}) == []
    smart = {**plan, "variants": [_variant("a", voucher={"mode": "smart"}), _variant("b")]}
    assert "variants[0].voucher.mode" in [p["path"] for p in shape_problems(smart)]


def test_a_variant_replaces_only_the_fields_it_gives():
    plan = {"content": {"text": {"en": "plan"}}, "voucher": {"mode": "chosen", "voucher_id": "v"},
            "product_ids": ["p1"]}
    mine = ab.effective(plan, {"variant_id": "a", "content": {"text": {"en": "a"}}, "voucher": None})
    assert mine == {"content": {"text": {"en": "a"}}, "voucher": None, "product_ids": ["p1"]}


# ----- performance -----------------------------------------------------------------------

def test_by_variant_sums_each_variants_chunks_and_the_rest_under_the_winner():
    record = {"ab_chunk_variants": ["a", "a", "b"], "ab_sizes": {"a": 300, "b": 250},
              "ab_rest": 1000}
    parts = [{"part": "dispatch"},
             {"part": "c#000000", "delivered": 250, "read": 10, "gmv": "10.50"},
             {"part": "c#000001", "delivered": 50, "clicked": 3, "orders": 1, "gmv": "5.00"},
             {"part": "c#000002", "delivered": 249, "replied": 2},
             {"part": "c#000003", "delivered": 1000, "read": 400, "gmv": "1.25"}]
    testing = ab.by_variant(["a", "b"], record, parts, None)
    assert testing["a"] == {"recipients": 300, "delivered": 300, "read": 10, "clicked": 3,
                            "replied": 0, "orders": 1, "gmv": "15.50"}
    assert testing["b"]["recipients"] == 250 and testing["b"]["delivered"] == 249
    decided = ab.by_variant(["a", "b"], record, parts, "b")
    assert decided["b"] == {"recipients": 1250, "delivered": 1249, "read": 400, "clicked": 0,
                            "replied": 2, "orders": 0, "gmv": "1.25"}
    assert ab.by_variant(["a", "b"], None, [], None)["a"]["recipients"] == 0
