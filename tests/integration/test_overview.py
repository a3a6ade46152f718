"""GET /v1/overview and GET /v1/segments/{id}/performance over the real pipeline (moto):
the rollups are exact under duplicate events, duplicate delivery outcomes and crashes, a
refund takes its order off the shop's figures, and the window's bounds are enforced."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.delivery_support import create_plan, iso, run_pipeline, seed_followers


def _events(api, events: list[dict]) -> None:
    r = api.post("/v1/events", {"events": events})
    assert r.status_code == 202 and not r.json["rejected"], r.json


def _touch(cid: str, etype: str, plan_id: str, at: datetime, n: str = "") -> dict:
    return {"event_id": f"{cid}-{etype}-{plan_id}{n}", "type": etype, "customer_id": cid,
            "occurred_at": iso(at), "plan_id": plan_id}


def _order(cid: str, order_id: str, amount: str, at: datetime, n: str = "") -> dict:
    return {"event_id": f"{order_id}-paid{n}", "type": "order_paid", "customer_id": cid,
            "order_id": order_id, "amount": amount, "currency": "THB", "occurred_at": iso(at)}


def _refund(cid: str, order_id: str, at: datetime, n: str = "") -> dict:
    return {"event_id": f"{order_id}-refund{n}", "type": "order_refunded", "customer_id": cid,
            "order_id": order_id, "occurred_at": iso(at)}


def _sent_plan_with_engagement(api, app, duplicate: bool) -> tuple[str, list[str]]:
    """Six followers messaged; three read, two clicked, one ordered 100.00 after reading;
    a customer the plan never reached ordered 50.00 (shop GMV only)."""
    ids = seed_followers(api, 6)
    plan_id = create_plan(api)["plan_id"]
    run_pipeline(app, duplicate=duplicate)
    now = datetime.now(UTC)
    events = [_touch(c, "message_read", plan_id, now) for c in ids[:3]]
    events += [_touch(c, "message_clicked", plan_id, now) for c in ids[:2]]
    # A second read of one customer (another event): a customer counts once.
    events.append(_touch(ids[0], "message_read", plan_id, now, "-again"))
    events.append(_order(ids[0], "o-1", "100.00", now + timedelta(seconds=1)))
    events.append(_order("walk-in", "o-2", "50.00", now))
    _events(api, events)
    run_pipeline(app, duplicate=duplicate)
    if duplicate:   # the same events sent again: ingestion knows them, nothing is re-published
        _events(api, events)
        run_pipeline(app, duplicate=True)
    return plan_id, ids


@pytest.mark.parametrize("duplicate", [False, True], ids=["once", "every_message_twice"])
def test_overview_counts_distinct_customers_attributed_and_shop_gmv_exactly(api, app, duplicate):
    plan_id, ids = _sent_plan_with_engagement(api, app, duplicate)
    r = api.get("/v1/overview?days=7")
    assert r.status_code == 200, r.json
    body = r.json
    assert body["customers"] == 7
    assert body["segments"]["new_followers"] == 6
    assert body["plans"] == 1
    assert body["funnel"] == {"reached": 6, "read": 3, "clicked": 2, "ordered": 1}
    assert (body["gmv"], body["orders"]) == ("100.00", 1)
    assert (body["shop_gmv"], body["shop_orders"]) == ("150.00", 2)
    assert body["gmv_share"] == pytest.approx(0.6667)
    assert body["plans_top"] == [{"plan_id": plan_id, "name": "Weekend rice sale",
                                  "recipients": 6, "orders": 1, "gmv": "100.00"}]
    daily = body["daily"]
    assert len(daily) == 7 and daily[-1]["date"] == datetime.now(UTC).date().isoformat()
    assert daily[-1] == {"date": daily[-1]["date"], "reached": 6, "read": 3, "clicked": 2,
                         "orders": 1, "gmv": "100.00"}
    assert all(d["reached"] == d["read"] == d["orders"] == 0 for d in daily[:-1])
    assert [d["date"] for d in daily] == sorted(d["date"] for d in daily)


def test_a_refund_takes_the_order_off_the_shop_figures_whatever_the_order(api, app):
    now = datetime.now(UTC)
    _events(api, [_order("b1", "o-paid-then-refunded", "30.00", now - timedelta(days=2)),
                  _order("b2", "o-kept", "20.00", now - timedelta(days=1)),
                  _refund("b3", "o-refunded-first", now - timedelta(hours=3))])
    run_pipeline(app)
    _events(api, [_refund("b1", "o-paid-then-refunded", now),
                  _order("b3", "o-refunded-first", "99.00", now - timedelta(hours=4))])
    run_pipeline(app, duplicate=True)
    # The refund again (a new event id): the order is off once.
    _events(api, [_refund("b1", "o-paid-then-refunded", now, "-2")])
    run_pipeline(app)
    body = api.get("/v1/overview?days=3").json
    assert (body["shop_gmv"], body["shop_orders"]) == ("20.00", 1)
    assert body["gmv_share"] == 0.0
    by_date = {d["date"]: d for d in body["daily"]}
    assert set(by_date) == {(now - timedelta(days=k)).date().isoformat() for k in range(3)}


def test_overview_of_a_shop_with_nothing_has_every_day_and_zeros(api):
    body = api.get("/v1/overview").json
    assert len(body["daily"]) == 30
    assert body["funnel"] == {"reached": 0, "read": 0, "clicked": 0, "ordered": 0}
    assert (body["gmv"], body["shop_gmv"], body["gmv_share"], body["plans"]) == ("0.00", "0.00", 0.0, 0)
    assert body["plans_top"] == [] and body["customers"] == 0


@pytest.mark.parametrize("days, status", [("1", 200), ("365", 200), ("0", 400), ("366", 400),
                                          ("-3", 400), ("abc", 400), ("7.5", 400)])
def test_days_is_one_to_365(api, days, status):
    r = api.get(f"/v1/overview?days={days}")
    assert r.status_code == status, r.json
    if status == 200:
        assert len(r.json["daily"]) == int(days)
    else:
        assert r.json["error"]["code"] == "validation_error" and "days" in str(r.json["error"]["details"])
    r = api.get(f"/v1/segments/new_followers/performance?days={days}")
    assert r.status_code == status, r.json


def test_the_day_follows_the_shops_time_zone(api, app):
    """An order paid at 20:00 UTC is tomorrow in Bangkok (UTC+7)."""
    assert api.put("/v1/settings", {"timezone": "Asia/Bangkok"}).status_code == 200
    now = datetime.now(UTC)
    paid = now.replace(hour=20, minute=0, second=0, microsecond=0) - timedelta(days=2)
    _events(api, [_order("b1", "o-late", "10.00", paid)])
    run_pipeline(app)
    by_date = {d["date"]: d for d in api.get("/v1/overview?days=7").json["daily"]}
    assert (paid + timedelta(hours=7)).date().isoformat() in by_date
    from chalicelib.store import overview as store

    rows = store.day_rows(api.seller_id, "2000-01-01", "2999-12-31")
    assert {r["day"] for r in rows} == {(paid + timedelta(hours=7)).date().isoformat()}


def test_segment_performance_lists_the_plans_that_named_it_with_their_whole_figures(api, app):
    ids = seed_followers(api, 4)
    named = create_plan(api, segment_ids=("new_followers",))["plan_id"]
    r = api.post("/v1/segments", {"name": "Followers too", "rule": {"segment": "new_followers"}})
    assert r.status_code == 201, r.json
    copy_id = r.json["segment_id"]
    # Sent to the same people, naming another segment and excluding "loyal".
    other = create_plan(api, audience={"segment_ids": [copy_id],
                                       "exclude_segment_ids": ["loyal"]})["plan_id"]
    run_pipeline(app)
    now = datetime.now(UTC)
    _events(api, [_touch(ids[0], "message_read", named, now),
                  _touch(ids[1], "message_read", named, now),
                  _touch(ids[1], "message_clicked", named, now),
                  _order(ids[1], "o-9", "12.50", now + timedelta(seconds=1))])
    run_pipeline(app, duplicate=True)
    r = api.get("/v1/segments/new_followers/performance?days=30")
    assert r.status_code == 200, r.json
    perf = api.get(f"/v1/plans/{named}/performance").json
    row = {"plan_id": named, "name": "Weekend rice sale", "recipients": perf["recipients"],
           "read": 2, "clicked": 1, "orders": 1, "gmv": "12.50"}
    assert perf["recipients"] == 4 and perf["gmv"] == "12.50"
    assert r.json == {"segment_id": "new_followers", "plans": [row],
                      "totals": {k: v for k, v in row.items() if k not in ("plan_id", "name")}}
    assert api.get(f"/v1/plans/{other}/performance").json["recipients"] == 4
    assert api.get("/v1/segments/loyal/performance").json["plans"] == []
    mine = api.get(f"/v1/segments/{copy_id}/performance").json
    assert [p["plan_id"] for p in mine["plans"]] == [other]


def test_segment_performance_of_an_unknown_or_another_sellers_segment_is_404(api):
    r = api.post("/v1/segments", {"name": "Mine", "rule": {"segment": "new_followers"}})
    assert r.status_code == 201, r.json
    segment_id = r.json["segment_id"]
    assert api.get(f"/v1/segments/{segment_id}/performance").status_code == 200
    other = api.as_seller(api.seller_id + "-other")
    assert other.get(f"/v1/segments/{segment_id}/performance").status_code == 404
    assert api.get("/v1/segments/nope/performance").status_code == 404


def test_an_automated_plan_counts_the_messages_it_sent_in_the_window(api, app):
    """A thank-you plan messages two buyers: it is a plan sent in the window, they are
    reached, and a read then an order of one of them is attributed to it."""
    from tests.integration.automated_support import customer, ev, events, plan, sweep

    for cid in ("a1", "a2"):
        customer(api, cid)
    p = plan(api, {"type": "thank_you", "delay_minutes": 1})
    events(api, ev("order_paid", "a1", "t1", order_id="t1", amount="10.00", currency="THB"),
           ev("order_paid", "a2", "t2", order_id="t2", amount="20.00", currency="THB"))
    sweep(app, datetime.now(UTC) + timedelta(minutes=2))
    sweep(app, datetime.now(UTC) + timedelta(minutes=2))     # a second sweep: nothing new
    now = datetime.now(UTC)
    _events(api, [_touch("a1", "message_read", p["plan_id"], now)])
    run_pipeline(app)
    _events(api, [_order("a1", "t3", "7.00", now + timedelta(seconds=1))])
    run_pipeline(app, duplicate=True)
    body = api.get("/v1/overview?days=1").json
    assert body["plans"] == 1
    assert body["funnel"] == {"reached": 2, "read": 1, "clicked": 0, "ordered": 1}
    assert (body["gmv"], body["orders"], body["shop_gmv"], body["shop_orders"]) == \
        ("7.00", 1, "37.00", 3)
    assert body["plans_top"] == [{"plan_id": p["plan_id"], "name": "Cart recovery",
                                  "recipients": 2, "orders": 1, "gmv": "7.00"}]
