"""Coupon families end to end: the voucher's ``family`` over the API, and a plan's family
voucher reaching only the recipients who qualify (the others get the message without it,
counted as ``vouchers_withheld``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.delivery_support import create_plan, iso, run_pipeline, seed_followers


def _voucher(api, family):
    r = api.post("/v1/vouchers", {"name": f"{family} coupon", "kind": "regular",
                                  "discount": {"type": "amount", "value": "20"},
                                  **({"family": family} if family else {})})
    assert r.status_code == 201, r.json
    return r.json


def test_a_voucher_carries_its_family_and_refuses_an_unknown_one(api):
    assert _voucher(api, None)["family"] is None
    made = _voucher(api, "returning_customer")
    assert made["family"] == "returning_customer"
    assert api.get(f"/v1/vouchers/{made['voucher_id']}").json["family"] == "returning_customer"
    r = api.post("/v1/vouchers", {"name": "x", "kind": "regular", "family": "vip",
                                  "discount": {"type": "percent", "value": 5}})
    assert r.status_code == 400 and r.json["error"]["details"][0]["path"] == "family"


def _orders(api, ids_days_refunded):
    now = datetime.now(UTC)
    events = []
    for cid, days, refunded in ids_days_refunded:
        at = iso(now - timedelta(days=days))
        events.append({"event_id": f"{cid}-o{days}", "type": "order_paid", "customer_id": cid,
                       "occurred_at": at, "order_id": f"{cid}-{days}", "amount": "50.00",
                       "currency": "THB"})
        if refunded:
            events.append({"event_id": f"{cid}-r{days}", "type": "order_refunded",
                           "customer_id": cid, "occurred_at": at, "order_id": f"{cid}-{days}"})
    assert api.post("/v1/events", {"events": events}).status_code == 202


@pytest.mark.parametrize("family, gets", [
    # c000: no order; c001: paid 5 days ago; c002: paid 5 days ago, refunded;
    # c003: paid 40 days ago; c004: paid 40 days ago and 2 days ago, the latter refunded
    ("new_customer", {"c000", "c002"}),
    ("returning_customer", {"c001"}),
    ("chat", {"c000", "c001", "c002", "c003", "c004"}),
])
def test_a_family_voucher_goes_only_to_who_qualifies_and_the_rest_get_the_message(
        api, app, family, gets):
    ids = seed_followers(api, 5)
    _orders(api, [("c001", 5, False), ("c002", 5, True), ("c003", 40, False),
                  ("c004", 40, False), ("c004", 2, True)])
    voucher = _voucher(api, family)
    plan = create_plan(api, voucher={"mode": "chosen", "voucher_id": voucher["voucher_id"]})
    run_pipeline(app)
    for cid in ids:
        inbox = api.get(f"/v1/customers/{cid}/inbox").json["items"]
        assert len(inbox) == 1, cid                       # everyone gets the message
        got = inbox[0]["voucher"]
        assert (got is not None) == (cid in gets), cid
        if got is not None:
            assert got == {"voucher_id": voucher["voucher_id"], "code": voucher["code"]}
    perf = api.get(f"/v1/plans/{plan['plan_id']}/performance").json
    assert perf["delivered"] == 5 and perf["vouchers_withheld"] == 5 - len(gets)
