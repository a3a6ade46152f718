"""A/B tests of one-off plans over the API and the real pipeline (moto in-process): the
form's rules, the sample split evenly and sent at once, the rest waiting with no delivery
items, the decision by the timer or POST /winner, the rest getting the winner's message,
rates, p-value and by_variant."""

from __future__ import annotations

from collections import Counter

import pytest

from chalicelib.domain import experiments as ab
from tests.integration.ab_support import (
    TEXTS,
    assert_each_got_one_message,
    by_variant,
    create_ab_plan,
    deliveries,
    fire_timer,
    variant_of_text,
    variants,
)
from tests.integration.delivery_support import (
    add_product,
    create_plan,
    engagement,
    run_pipeline,
    seed_followers,
)


def test_the_sample_goes_first_then_the_winner_goes_to_the_rest(api, app):
    ids = seed_followers(api, 40, blocked=(3,))
    eligible = [c for c in ids if c != ids[3]]
    plan = create_ab_plan(api, sample_percent=25, metric="click", wait_minutes=30)
    plan_id = plan["plan_id"]
    assert plan["status"] == "in_progress" and plan["content"] is None
    assert plan["ab_test"] == {"sample_percent": 25, "metric": "click", "wait_minutes": 30,
                               "status": "testing", "winner": None, "decided_at": None,
                               "decided_by": None, "rates": None, "p_value": None}
    assert any("under 100" in w for w in plan["warnings"])
    run_pipeline(app)

    # The sample: 25% of the 39 eligible (10), 5 per variant; the rest has no delivery items.
    rows = deliveries(api, plan_id)
    sample = by_variant(rows)
    assert {v: len(c) for v, c in sample.items()} == {"a": 5, "b": 5}
    assert [r for r in rows if r["status"] == "skipped"] == [
        {"customer_id": ids[3], "channel": "chat", "status": "skipped", "reason": "blocked"}]
    assert len(rows) == 11
    got = api.get(f"/v1/plans/{plan_id}").json
    assert got["status"] == "in_progress" and got["ab_test"]["status"] == "testing"
    for variant, members in sample.items():
        for cid in members:
            (message,) = api.get(f"/v1/customers/{cid}/inbox").json["items"]
            assert message["text"] == TEXTS[variant].format(name=f"Customer {int(cid[1:])}")

    # Clicks: 1 of a's five, 3 of b's (and a read that the click metric ignores).
    for cid in sample["a"][:1] + sample["b"][:3]:
        engagement(api, plan_id, cid, "message_clicked")
    engagement(api, plan_id, sample["a"][4], "message_read")
    run_pipeline(app)
    assert fire_timer(31) >= 1
    run_pipeline(app)

    got = api.get(f"/v1/plans/{plan_id}").json
    decision = got["ab_test"]
    assert decision["status"] == "decided" and decision["winner"] == "b"
    assert decision["decided_by"] == "timer" and decision["decided_at"]
    assert decision["rates"] == {"a": 0.2, "b": 0.6}
    assert decision["p_value"] == pytest.approx(ab.p_value([(1, 5), (3, 5)]))
    assert got["status"] == "sent"

    texts = assert_each_got_one_message(api, plan_id, eligible)
    rows = deliveries(api, plan_id)
    assert len(rows) == 40
    final = by_variant(rows)
    assert final["a"] == sample["a"] and len(final["b"]) == 34
    for cid in eligible:
        assert variant_of_text(texts[cid]) == ("a" if cid in sample["a"] else "b")

    perf = api.get(f"/v1/plans/{plan_id}/performance").json
    assert perf["recipients"] == 40 and perf["delivered"] == 39 and perf["clicked"] == 4
    assert perf["by_variant"] == {
        "a": {"recipients": 5, "delivered": 5, "read": 1, "clicked": 1, "replied": 0,
              "orders": 0, "gmv": "0.00"},
        "b": {"recipients": 34, "delivered": 34, "read": 0, "clicked": 3, "replied": 0,
              "orders": 0, "gmv": "0.00"}}

    # Engagement of the rest counts under the winner; rates stay as decided.
    rest = [c for c in final["b"] if c not in sample["b"]]
    engagement(api, plan_id, rest[0], "message_clicked")
    run_pipeline(app)
    perf = api.get(f"/v1/plans/{plan_id}/performance").json
    assert perf["by_variant"]["b"]["clicked"] == 4
    assert api.get(f"/v1/plans/{plan_id}").json["ab_test"]["rates"] == {"a": 0.2, "b": 0.6}


def test_wait_minutes_zero_decides_as_soon_as_the_sample_is_done(api, app):
    ids = seed_followers(api, 12)
    plan_id = create_ab_plan(api, sample_percent=50, wait_minutes=0, metric="read",
                             variant_ids=("a", "b", "c"))["plan_id"]
    run_pipeline(app)
    got = api.get(f"/v1/plans/{plan_id}").json
    assert got["status"] == "sent" and got["ab_test"]["winner"] == "a"   # no reads: a tie
    assert got["ab_test"]["rates"] == {"a": 0.0, "b": 0.0, "c": 0.0}
    assert got["ab_test"]["p_value"] is None                              # a zero row
    texts = assert_each_got_one_message(api, plan_id, ids)
    assert Counter(variant_of_text(t) for t in texts.values()) == {"a": 8, "b": 2, "c": 2}


def test_the_order_metric_counts_buyers_once_each(api, app):
    from datetime import UTC, datetime, timedelta

    from tests.integration.delivery_support import iso

    seed_followers(api, 20)
    plan_id = create_ab_plan(api, sample_percent=50, metric="order")["plan_id"]
    run_pipeline(app)
    sample = by_variant(deliveries(api, plan_id))
    buyer = sample["b"][0]
    engagement(api, plan_id, buyer, "message_read")
    run_pipeline(app)
    now = datetime.now(UTC)
    for n in range(3):   # three orders by one buyer: one buyer, three orders
        assert api.post("/v1/events", {"events": [{
            "event_id": f"{buyer}-o{n}", "type": "order_paid", "customer_id": buyer,
            "occurred_at": iso(now + timedelta(seconds=1 + n)), "order_id": f"o{n}-{buyer}",
            "amount": "10.00", "currency": "THB"}]}).status_code == 202
    run_pipeline(app)
    r = api.post(f"/v1/plans/{plan_id}/winner", {})
    assert r.status_code == 200, r.json
    assert r.json["ab_test"]["winner"] == "b" and r.json["ab_test"]["decided_by"] == "operator"
    assert r.json["ab_test"]["rates"] == {"a": 0.0, "b": 0.2}
    run_pipeline(app)
    perf = api.get(f"/v1/plans/{plan_id}/performance").json
    assert perf["by_variant"]["b"]["orders"] == 3 and perf["by_variant"]["b"]["gmv"] == "30.00"
    assert perf["by_variant"]["b"]["recipients"] == 15


def test_post_winner_by_hand_then_409_404_403_400(api, app):
    ids = seed_followers(api, 8)
    draft = create_ab_plan(api, action="draft")
    assert api.post(f"/v1/plans/{draft['plan_id']}/winner", {}).status_code == 409
    plain = create_plan(api)
    assert api.post(f"/v1/plans/{plain['plan_id']}/winner", {}).status_code == 409
    plan_id = create_ab_plan(api, sample_percent=50)["plan_id"]
    run_pipeline(app)
    assert api.as_role("viewer").post(f"/v1/plans/{plan_id}/winner", {}).status_code == 403
    assert api.as_seller("someone-else").post(f"/v1/plans/{plan_id}/winner", {}).status_code == 404
    r = api.post(f"/v1/plans/{plan_id}/winner", {"variant_id": "zz"})
    assert r.status_code == 400 and r.json["error"]["details"][0]["path"] == "variant_id"
    r = api.as_role("operator").post(f"/v1/plans/{plan_id}/winner", {"variant_id": "a"})
    assert r.status_code == 200, r.json
    assert r.json["ab_test"]["winner"] == "a" and r.json["ab_test"]["decided_by"] == "hand"
    assert r.json["ab_test"]["rates"] == {"a": 0.0, "b": 0.0}
    assert api.post(f"/v1/plans/{plan_id}/winner", {}).status_code == 409
    assert api.post(f"/v1/plans/{plan_id}/winner", {"variant_id": "b"}).status_code == 409
    run_pipeline(app)
    fire_timer(31)          # the timer was disarmed; a late copy would change nothing
    run_pipeline(app)
    texts = assert_each_got_one_message(api, plan_id, ids)
    assert Counter(variant_of_text(t) for t in texts.values()) == {"a": 6, "b": 2}
    assert api.get(f"/v1/plans/{plan_id}").json["status"] == "sent"


def _form(api, **change) -> dict:
    return {"name": "AB", "kind": "one_off", "audience": {"segment_ids": ["new_followers"]},
            "product_ids": [add_product(api)], "variants": variants("a", "b"),
            "ab_test": {"sample_percent": 10}, **change}


@pytest.mark.parametrize(("change", "path"), [
    ({"ab_test": None}, "ab_test"),
    ({"variants": None}, "variants"),
    ({"kind": "automated", "trigger": {"type": "thank_you"}}, "variants"),
    ({"variants": [{"variant_id": "a", "content": {"text": {"th": "only thai"}}},
                   *variants("b")]}, "variants[0].content.text"),
    ({"variants": [*variants("a"), {**variants("b")[0], "product_ids": ["nope"]}]},
     "variants[1].product_ids[0]"),
    ({"variants": [*variants("a"), {**variants("b")[0], "voucher": {"mode": "chosen",
                                                                  "voucher_id": "nope"}}]},
     "variants[1].voucher.voucher_id"),
    ({"variants": [{"variant_id": "a", "content": {"template_id": "nope"}}, *variants("b")]},
     "variants[0].content.template_id"),
])
def test_bad_ab_forms_are_400_naming_the_field(api, change, path):
    r = api.post("/v1/plans", _form(api, **change))
    assert r.status_code == 400, r.json
    assert path in [d["path"] for d in r.json["error"]["details"]], r.json


def test_a_variant_left_with_nobody_is_a_400_at_send(api):
    seed_followers(api, 3)
    draft = api.post("/v1/plans", _form(api)).json            # 10% of 3 = 0
    r = api.post(f"/v1/plans/{draft['plan_id']}/send")
    assert r.status_code == 400
    assert r.json["error"]["details"][0]["path"] == "ab_test.sample_percent"
    assert api.get(f"/v1/plans/{draft['plan_id']}").json["status"] == "draft"


def test_patch_sets_and_clears_variants_of_a_draft(api):
    seed_followers(api, 3)
    draft = api.post("/v1/plans", {**_form(api), "variants": None, "ab_test": None,
                                   "content": {"text": {"en": "hi"}}}).json
    assert "variants" not in draft
    r = api.patch(f"/v1/plans/{draft['plan_id']}", {"variants": variants("a", "c"),
                                                    "ab_test": {"sample_percent": 40}})
    assert r.status_code == 200, r.json
    assert [v["variant_id"] for v in r.json["variants"]] == ["a", "c"]
    assert r.json["ab_test"]["metric"] == "click" and r.json["ab_test"]["wait_minutes"] == 60
    r = api.patch(f"/v1/plans/{draft['plan_id']}", {"ab_test": None})
    assert r.status_code == 400 and r.json["error"]["details"][0]["path"] == "ab_test"
    r = api.patch(f"/v1/plans/{draft['plan_id']}", {"ab_test": None, "variants": None})
    assert r.status_code == 200 and "ab_test" not in r.json


def test_variants_carry_their_own_voucher_and_products(api, app):
    seed_followers(api, 10)
    add_product(api, "p2", "Fish sauce")
    made = api.post("/v1/vouchers", {"name": "Ten off", "kind": "regular",
                                     "discount": {"type": "amount", "value": "10"}})
    assert made.status_code == 201, made.json
    voucher_id = made.json["voucher_id"]
    form = _form(api, ab_test={"sample_percent": 20, "wait_minutes": 0}, variants=[
        {"variant_id": "a", "content": {"text": {"en": "A {product} {voucher}"}},
         "voucher": {"mode": "chosen", "voucher_id": voucher_id}},
        {"variant_id": "b", "content": {"text": {"en": "B {product} {voucher}"}},
         "product_ids": ["p2"]}], action="send")
    r = api.post("/v1/plans", form)
    assert r.status_code == 201, r.json
    run_pipeline(app)
    rows = deliveries(api, r.json["plan_id"])
    seen = {}
    for row in rows:
        (message,) = api.get(f"/v1/customers/{row['customer_id']}/inbox").json["items"]
        seen[row["variant"]] = (message["text"], message["product_ids"], message["voucher"])
    assert seen["a"][0] == "A Jasmine Rice 5kg Ten off" and seen["a"][1] == ["p1"]
    assert seen["a"][2]["voucher_id"] == voucher_id
    assert seen["b"] == ("B Fish sauce ", ["p2"], None)


def test_cancelling_while_testing_records_the_rest_cancelled_and_disarms_the_timer(api, app):
    ids = seed_followers(api, 12)
    plan_id = create_ab_plan(api, sample_percent=50)["plan_id"]
    run_pipeline(app)
    sample = {c for members in by_variant(deliveries(api, plan_id)).values() for c in members}
    assert len(sample) == 6
    assert api.post(f"/v1/plans/{plan_id}/cancel").json["status"] == "cancelled"
    run_pipeline(app)
    fire_timer(31)
    run_pipeline(app)
    rows = deliveries(api, plan_id)
    assert len(rows) == 12
    assert {r["customer_id"] for r in rows if r["status"] == "skipped"
            and r["reason"] == "cancelled"} == set(ids) - sample
    got = api.get(f"/v1/plans/{plan_id}").json
    assert got["status"] == "cancelled" and got["ab_test"]["status"] == "testing"
    assert api.post(f"/v1/plans/{plan_id}/winner", {}).status_code == 409
    for cid in ids:
        inbox = [m for m in api.get(f"/v1/customers/{cid}/inbox").json["items"]
                 if m["plan_id"] == plan_id]
        assert len(inbox) == (1 if cid in sample else 0)
