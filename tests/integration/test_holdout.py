"""Holdouts on one-off plans (API.md "Plans" → "Holdout", SPEC.md §7) through the real
pipeline (moto): the held-out share is never messaged, conversions of recipients and held-out
customers count exactly once under duplicates, the lift and incremental GMV follow."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from chalicelib.domain.automated import held_out
from chalicelib.domain.lift import newcombe
from tests.integration import test_reliability_delivery as reliability
from tests.integration.delivery_support import (
    create_plan,
    engagement,
    iso,
    pump,
    run_pipeline,
    seed_followers,
)

fast_retries = reliability.fast_retries   # small chunks, a 1 s lease, no DLQ


@pytest.fixture
def small_chunks(monkeypatch):
    from chalicelib.settings import settings

    monkeypatch.setattr(settings(), "delivery_chunk_size", 4)


def _perf(api, plan_id):
    r = api.get(f"/v1/plans/{plan_id}/performance")
    assert r.status_code == 200, r.json
    return r.json


def _orders(api, orders):
    """(event id, customer, order id, amount[, occurred_at]) -> order_paid events."""
    now = iso(datetime.now(UTC))
    r = api.post("/v1/events", {"events": [
        {"event_id": o[0], "type": "order_paid", "customer_id": o[1], "order_id": o[2],
         "amount": o[3], "currency": "THB", "occurred_at": o[4] if len(o) > 4 else now}
        for o in orders]})
    assert r.status_code == 202 and not r.json["rejected"], r.json


def test_held_out_customers_are_never_messaged_and_read_skipped_holdout(api, app, small_chunks):
    ids = seed_followers(api, 40, blocked=(0, 1))
    plan = create_plan(api, holdout_percent=30)
    pid = plan["plan_id"]
    assert plan["holdout_percent"] == 30
    run_pipeline(app)

    eligible = ids[2:]                      # the blocked are skipped before the holdout
    held = sorted(c for c in eligible if held_out(pid, c, 30))
    assert 0 < len(held) < len(eligible)
    for cid in held:
        assert api.get(f"/v1/customers/{cid}/inbox").json["items"] == []
    rows = api.get(f"/v1/plans/{pid}/deliveries?status=skipped&limit=200").json["items"]
    assert sorted(r["customer_id"] for r in rows if r["reason"] == "holdout") == held
    assert all(r["reason"] == "blocked" for r in rows if r["customer_id"] in ids[:2])
    perf = _perf(api, pid)
    assert perf["skipped"]["holdout"] == len(held) and perf["skipped"]["blocked"] == 2
    assert perf["recipients"] == 40 - len(held)          # never counts the held-out
    assert perf["delivered"] == len(eligible) - len(held)
    assert perf["holdout"] == {"size": len(held), "converted": 0, "conversion": 0.0}
    assert perf["recipients_conversion"] == 0.0
    assert perf["incremental_gmv"] == "0.00" and perf["voucher_cost"] == "0.00"
    assert api.get(f"/v1/plans/{pid}").json["status"] == "sent"


def _split(pid, ids, percent):
    held = [c for c in ids if held_out(pid, c, percent)]
    return [c for c in ids if c not in held], held


@pytest.mark.parametrize("orders_first", [False, True], ids=["after_delivery", "before_dispatch"])
def test_conversions_count_each_customer_and_order_once_under_duplicates(api, app, small_chunks,
                                                                         orders_first):
    ids = seed_followers(api, 30)
    voucher = api.post("/v1/vouchers", {"name": "20 off", "kind": "regular",
                                        "discount": {"type": "amount", "value": "20"}}).json
    plan = create_plan(api, holdout_percent=40,
                       voucher={"mode": "chosen", "voucher_id": voucher["voucher_id"]})
    pid = plan["plan_id"]
    sent, held = _split(pid, ids, 40)
    assert len(sent) >= 4 and len(held) >= 3
    earlier = iso(datetime.now(UTC) - timedelta(hours=1))     # before the send: no conversion
    orders = [
        ("e1", sent[0], "o1", "100.00"), ("e1", sent[0], "o1", "100.00"),   # the same event twice
        ("e1b", sent[0], "o1", "100.00"),                                    # same order, new event
        ("e2", sent[0], "o2", "50.00"),           # a second order: converted once, GMV twice
        ("e3", sent[1], "o3", "30.00"),
        ("e4", held[0], "o4", "40.00"), ("e4b", held[0], "o4", "40.00"),
        ("e5", held[1], "o5", "10.00"),
        ("e6", sent[2], "o6", "500.00", earlier), ("e7", held[2], "o7", "500.00", earlier),
    ]

    if orders_first:    # the orders come while the plan waits for its dispatch: parked
        _orders(api, orders)
        pump(app, "events", duplicate=True)
        run_pipeline(app, duplicate=True)
    else:
        run_pipeline(app, duplicate=True)
        _orders(api, orders)
    # Redemptions (after the message went out): one per customer counts, with its discount.
    engagement(api, pid, sent[0], "voucher_redeemed", voucher_id=voucher["voucher_id"])
    engagement(api, pid, sent[0], "voucher_redeemed", suffix="-again",
               voucher_id=voucher["voucher_id"])
    engagement(api, pid, held[0], "voucher_redeemed", voucher_id=voucher["voucher_id"])
    run_pipeline(app, duplicate=True)

    perf = _perf(api, pid)
    delivered, size = len(sent), len(held)
    assert perf["delivered"] == delivered and perf["holdout"]["size"] == size
    assert perf["holdout"]["converted"] == 2
    assert perf["holdout"]["conversion"] == pytest.approx(2 / size)
    assert perf["recipients_conversion"] == pytest.approx(2 / delivered)
    d, lo, hi = newcombe(2, delivered, 2, size)
    assert perf["lift"]["method"] == "newcombe"
    assert perf["lift"]["absolute"] == pytest.approx(d)
    assert perf["lift"]["ci95"] == pytest.approx([lo, hi])
    incremental = Decimal("180") - Decimal("50") * delivered / size
    assert perf["incremental_gmv"] == f"{incremental.quantize(Decimal('0.01'))}"
    # one redemption counted (the held-out customer's names a plan that never messaged them)
    assert perf["voucher_cost"] == "20.00" and perf["vouchers_redeemed"] == 1
    assert perf["net_incremental_gmv"] == f"{(incremental - 20).quantize(Decimal('0.01'))}"
    assert perf["orders"] == 0 and perf["gmv"] == "0.00"   # nobody read: nothing attributed


def test_attribution_is_unchanged_beside_the_conversions(api, app):
    ids = seed_followers(api, 12)
    plan = create_plan(api, holdout_percent=20)
    pid = plan["plan_id"]
    run_pipeline(app)
    sent, _ = _split(pid, ids, 20)
    engagement(api, pid, sent[0], "message_read")
    run_pipeline(app)
    _orders(api, [("a1", sent[0], "x1", "12.00"), ("a2", sent[1], "x2", "8.00")])
    run_pipeline(app)
    perf = _perf(api, pid)
    assert (perf["orders"], perf["gmv"]) == (1, "12.00")   # attributed: read first
    assert perf["recipients_conversion"] == pytest.approx(2 / len(sent))   # read or not


def test_voucher_cost_is_on_every_plan(api, app):
    ids = seed_followers(api, 3)
    voucher = api.post("/v1/vouchers", {"name": "10%", "kind": "regular",
                                        "discount": {"type": "percent", "value": "10"}}).json
    plan = create_plan(api, voucher={"mode": "chosen", "voucher_id": voucher["voucher_id"]})
    pid = plan["plan_id"]
    run_pipeline(app)
    _orders(api, [("v1", ids[0], "vo1", "85.50")])
    run_pipeline(app)
    engagement(api, pid, ids[0], "voucher_redeemed", voucher_id=voucher["voucher_id"],
               order_id="vo1")
    run_pipeline(app)
    perf = _perf(api, pid)
    assert perf["voucher_cost"] == "8.55"                 # 10% of the redeemed order
    assert "lift" not in perf and "holdout" not in perf   # no holdout, no lift
    assert perf["skipped"]["holdout"] == 0


@pytest.mark.parametrize("body, path", [
    ({"holdout_percent": 51}, "holdout_percent"),
    ({"holdout_percent": -1}, "holdout_percent"),
])
def test_holdout_percent_is_0_to_50(api, body, path):
    seed_followers(api, 1)
    r = api.post("/v1/plans", {"name": "x", "kind": "one_off", "action": "draft", **body})
    assert r.status_code == 400 and path in str(r.json["error"]["details"])


def test_a_draft_keeps_and_patches_its_holdout(api):
    r = api.post("/v1/plans", {"name": "x", "kind": "one_off", "action": "draft"})
    assert r.status_code == 201 and r.json["holdout_percent"] == 0
    r = api.patch(f"/v1/plans/{r.json['plan_id']}", {"holdout_percent": 25})
    assert r.status_code == 200 and r.json["holdout_percent"] == 25


def test_another_sellers_holdout_performance_is_not_found(api, app):
    seed_followers(api, 4)
    pid = create_plan(api, holdout_percent=50)["plan_id"]
    run_pipeline(app)
    assert "lift" in _perf(api, pid)
    other = api.as_seller("someone-else").get(f"/v1/plans/{pid}/performance")
    assert other.status_code == 404 and other.json["error"]["code"] == "not_found"


@pytest.mark.parametrize("seed", [5, 31])
def test_crashes_and_duplicates_leave_the_holdout_unmessaged_and_counted_once(
        api, app, monkeypatch, fast_retries, seed):
    """The fault injection of test_reliability_delivery (crashes before and after every store,
    channel and queue call; every SQS message twice and re-sent) over a plan with a holdout,
    with orders handled both before its dispatch and after its delivery."""
    ids = seed_followers(api, 24)
    chaos = reliability.inject_crashes(monkeypatch, seed, rate=0.06)
    chaos.enabled = False
    plan = create_plan(api, holdout_percent=40)
    pid = plan["plan_id"]
    sent, held = _split(pid, ids, 40)
    early = [("b1", sent[0], "ob1", "10.00"), ("b2", held[0], "ob2", "20.00")]
    late = [("a1", sent[1], "oa1", "5.00"), ("a2", held[1], "oa2", "7.00"),
            ("a3", sent[0], "oa3", "1.00")]
    _orders(api, early)
    chaos.enabled = True
    pump(app, "events", duplicate=True)
    run_pipeline(app, duplicate=True)
    chaos.enabled = False
    _orders(api, late + early)            # the early ones again, as new deliveries
    chaos.enabled = True
    run_pipeline(app, duplicate=True)
    chaos.enabled = False

    assert set(chaos.sends.per_customer(pid)) == set(sent)      # the held-out: never sent to
    assert not chaos.sends.duplicates()
    perf = _perf(api, pid)
    assert perf["delivered"] == len(sent) and perf["skipped"]["holdout"] == len(held)
    assert perf["recipients"] == len(sent)
    assert perf["holdout"]["converted"] == 2
    assert perf["recipients_conversion"] == pytest.approx(2 / len(sent))
    incremental = Decimal("16") - Decimal("27") * len(sent) / len(held)
    assert perf["incremental_gmv"] == f"{incremental.quantize(Decimal('0.01'))}"
    assert len(chaos.crashes) >= 3, chaos.crashes


def test_an_order_notice_has_no_holdout(api):
    r = api.post("/v1/plans", {"name": "late", "kind": "order_notice", "action": "draft",
                               "scenario": "delayed_shipping", "holdout_percent": 10})
    assert r.status_code == 400
    assert "holdout_percent" in [d["path"] for d in r.json["error"]["details"]], r.json
