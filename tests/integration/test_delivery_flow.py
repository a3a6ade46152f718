"""One-off plans through the real pipeline (moto): dispatch -> chunks -> worker -> inbox,
deliveries and exact counters."""

from __future__ import annotations

import pytest

from tests.integration.delivery_support import create_plan, run_pipeline, seed_followers


@pytest.fixture
def small_chunks(monkeypatch):
    from chalicelib.settings import settings

    monkeypatch.setattr(settings(), "delivery_chunk_size", 4)


def test_send_now_reaches_every_eligible_follower_once(api, app, small_chunks):
    ids = seed_followers(api, 12, blocked=(3,), unsubscribed=(5,))
    plan = create_plan(api)
    assert plan["status"] == "in_progress"
    run_pipeline(app)

    assert api.get(f"/v1/plans/{plan['plan_id']}").json["status"] == "sent"
    for i, cid in enumerate(ids):
        inbox = api.get(f"/v1/customers/{cid}/inbox").json["items"]
        assert len(inbox) == (0 if i in (3, 5) else 1), cid
    perf = api.get(f"/v1/plans/{plan['plan_id']}/performance").json
    assert perf["recipients"] == 12
    assert perf["delivered"] == 10
    assert perf["skipped"]["blocked"] == 1 and perf["skipped"]["unsubscribed"] == 1
    rows = api.get(f"/v1/plans/{plan['plan_id']}/deliveries?limit=200").json["items"]
    assert sorted(r["customer_id"] for r in rows) == ids


def _inbox(api, cid):
    return api.get(f"/v1/customers/{cid}/inbox").json["items"]


def test_each_recipient_reads_their_language_else_the_shops_default(api, app):
    api.put("/v1/settings", {"shop_name": "Rice Shop", "default_locale": "en"})
    ids = seed_followers(api, 5)          # languages th, vi, en, id, none
    create_plan(api)
    run_pipeline(app)
    got = {cid: _inbox(api, cid)[0] for cid in ids}
    assert got[ids[0]]["locale"] == "th" and got[ids[0]]["text"] == "สวัสดี Customer 0 Jasmine Rice 5kg"
    for cid in ids[1:]:                   # no vi/id text, no language: the default
        assert got[cid]["locale"] == "en"
    assert got[ids[2]]["text"] == "Hi Customer 2, Jasmine Rice 5kg from Rice Shop "
    assert got[ids[2]]["product_ids"] == ["p1"] and got[ids[2]]["test"] is False


def test_private_voucher_gets_a_code_unique_to_each_recipient(api, app):
    ids = seed_followers(api, 6)
    r = api.post("/v1/vouchers", {"name": "10% off", "kind": "private",
                                  "discount": {"type": "percent", "value": "10"}})
    assert r.status_code == 201, r.json
    voucher_id = r.json["voucher_id"]
    create_plan(api, voucher={"mode": "chosen", "voucher_id": voucher_id})
    run_pipeline(app)
    messages = [_inbox(api, cid)[0] for cid in ids]
    codes = [m["voucher"]["code"] for m in messages]
    assert len(set(codes)) == 6 and all(m["voucher"]["voucher_id"] == voucher_id for m in messages)
    en = next(m for m in messages if m["locale"] == "en" and m["text"].startswith("Hi Customer 2"))
    assert en["text"].endswith(en["voucher"]["code"])   # {voucher} shows the private code


def test_test_send_is_marked_and_counts_in_no_figure(api, app):
    ids = seed_followers(api, 3)
    plan = create_plan(api, action="draft")
    r = api.post(f"/v1/plans/{plan['plan_id']}/test-send", {"customer_id": ids[0]})
    assert r.status_code == 200, r.json
    inbox = _inbox(api, ids[0])
    assert len(inbox) == 1 and inbox[0]["test"] is True
    run_pipeline(app)
    perf = api.get(f"/v1/plans/{plan['plan_id']}/performance").json
    assert perf["recipients"] == 0 and perf["delivered"] == 0
    assert api.get(f"/v1/plans/{plan['plan_id']}/deliveries").json["items"] == []


def test_frequency_cap_skips_customers_already_messaged_enough(api, app):
    r = api.put("/v1/settings", {"frequency_cap": {"max_messages": 1, "per_days": 7}})
    assert r.status_code == 200, r.json
    ids = seed_followers(api, 4)
    first = create_plan(api)
    run_pipeline(app)
    second = create_plan(api)
    run_pipeline(app)
    assert api.get(f"/v1/plans/{first['plan_id']}/performance").json["delivered"] == 4
    perf = api.get(f"/v1/plans/{second['plan_id']}/performance").json
    assert perf["delivered"] == 0 and perf["skipped"]["frequency_cap"] == 4
    assert api.get(f"/v1/plans/{second['plan_id']}").json["status"] == "sent"
    assert all(len(_inbox(api, c)) == 1 for c in ids)


def test_deliveries_list_every_recipient_once_across_pages_and_filter_by_status(api, app):
    ids = seed_followers(api, 9, blocked=(1, 4))
    plan = create_plan(api)
    run_pipeline(app)
    seen, cursor = [], None
    while True:
        path = f"/v1/plans/{plan['plan_id']}/deliveries?limit=4" + (f"&cursor={cursor}" if cursor else "")
        page = api.get(path).json
        seen.extend(page["items"])
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert sorted(i["customer_id"] for i in seen) == ids
    delivered = [i for i in seen if i["status"] == "delivered"]
    assert len(delivered) == 7 and all(i["channel"] == "chat" and i["sent_at"] for i in delivered)
    skipped = api.get(f"/v1/plans/{plan['plan_id']}/deliveries?status=skipped").json["items"]
    assert [(i["customer_id"], i["reason"]) for i in skipped] == [(ids[1], "blocked"),
                                                                  (ids[4], "blocked")]
    assert "sent_at" not in skipped[0]
    assert api.get(f"/v1/plans/{plan['plan_id']}/deliveries?status=lost").status_code == 400


def test_exclusions_are_removed_from_the_audience(api, app):
    ids = seed_followers(api, 4)
    # Two of them also bought recently: they are in `recent`, which the plan excludes.
    from datetime import UTC, datetime, timedelta

    from tests.integration.delivery_support import iso

    when = iso(datetime.now(UTC) - timedelta(days=2))
    api.post("/v1/events", {"events": [
        {"event_id": f"{c}-o", "type": "order_paid", "customer_id": c, "occurred_at": when,
         "order_id": f"o-{c}", "amount": "5.00", "currency": "THB"} for c in ids[:2]]})
    plan = create_plan(api, audience={"segment_ids": ["new_followers"],
                                      "exclude_segment_ids": ["recent"]})
    run_pipeline(app)
    assert [len(_inbox(api, c)) for c in ids] == [0, 0, 1, 1]
    assert api.get(f"/v1/plans/{plan['plan_id']}/performance").json["recipients"] == 2


@pytest.mark.parametrize("path", ["/v1/plans/{plan}/performance", "/v1/plans/{plan}/deliveries",
                                  "/v1/customers/{customer}/inbox"])
def test_another_sellers_plan_or_customer_is_not_found(api, app, path):
    ids = seed_followers(api, 1)
    plan = create_plan(api)
    run_pipeline(app)
    url = path.format(plan=plan["plan_id"], customer=ids[0])
    assert api.get(url).status_code == 200
    other = api.as_seller("someone-else").get(url)
    assert other.status_code == 404 and other.json["error"]["code"] == "not_found"


def test_engagement_counts_once_per_customer_and_only_for_real_recipients(api, app):
    from tests.integration.delivery_support import engagement

    ids = seed_followers(api, 3, blocked=(2,))
    plan = create_plan(api)
    pid = plan["plan_id"]
    run_pipeline(app)
    engagement(api, pid, ids[0], "message_read")
    engagement(api, pid, ids[0], "message_read", suffix="-2")      # same customer again
    engagement(api, pid, ids[2], "message_read")                   # skipped (blocked)
    engagement(api, pid, "stranger", "message_clicked")            # never a recipient
    engagement(api, pid, ids[1], "unsubscribed")
    engagement(api, pid, ids[1], "voucher_redeemed", voucher_id="v9")
    run_pipeline(app)
    perf = api.get(f"/v1/plans/{pid}/performance").json
    assert (perf["read"], perf["clicked"], perf["unsubscribed"], perf["vouchers_redeemed"]) == \
        (1, 0, 1, 1)


def test_an_order_before_any_read_or_after_the_window_is_not_attributed(api, app):
    from datetime import UTC, datetime, timedelta

    from tests.integration.delivery_support import engagement, iso

    api.put("/v1/settings", {"attribution_window_days": 1})
    ids = seed_followers(api, 2)
    plan = create_plan(api)
    pid = plan["plan_id"]
    run_pipeline(app)
    engagement(api, pid, ids[0], "message_clicked")
    now = datetime.now(UTC)
    orders = [(ids[0], now + timedelta(seconds=2), "12.00"),       # after the click: credited
              (ids[0], now - timedelta(days=3), "99.00"),          # before it: not
              (ids[1], now + timedelta(seconds=2), "50.00")]       # never read or clicked
    api.post("/v1/events", {"events": [
        {"event_id": f"ord-{n}", "type": "order_paid", "customer_id": c, "occurred_at": iso(t),
         "order_id": f"o{n}", "amount": amount, "currency": "THB"}
        for n, (c, t, amount) in enumerate(orders)]})
    run_pipeline(app)
    perf = api.get(f"/v1/plans/{pid}/performance").json
    assert perf["orders"] == 1 and perf["gmv"] == "12.00"


def test_scheduled_plan_is_dispatched_when_its_schedule_fires(api, app):
    from datetime import UTC, datetime, timedelta
    from zoneinfo import ZoneInfo

    from chalicelib.delivery.scheduling import schedule_name
    from chalicelib.local.scheduler import fire_due
    from chalicelib.store import queues, schedules
    from tests.integration.delivery_support import iso

    ids = seed_followers(api, 3)
    at = (datetime.now(UTC) + timedelta(hours=3)).replace(microsecond=0)
    plan = create_plan(api, send_at=iso(at.astimezone(ZoneInfo("Asia/Bangkok"))))
    assert plan["status"] == "scheduled"
    stored = schedules.get(schedule_name(api.seller_id, plan["plan_id"]))
    assert stored["ScheduleExpression"] == f"at({at:%Y-%m-%dT%H:%M:%S})"
    assert stored["ScheduleExpressionTimezone"] == "UTC"
    assert stored["Target"]["Arn"] == queues.arn("dispatch")
    run_pipeline(app)
    assert all(not _inbox(api, c) for c in ids)             # not before its time
    fire_due(at + timedelta(seconds=1))
    run_pipeline(app)
    assert api.get(f"/v1/plans/{plan['plan_id']}").json["status"] == "sent"
    assert all(len(_inbox(api, c)) == 1 for c in ids)
    assert schedules.get(schedule_name(api.seller_id, plan["plan_id"])) is None


@pytest.mark.parametrize("cursor, deliveries_status, inbox_status", [
    ("not-base64!", 400, 400),
    ("eyJhIjo1fQ", 400, 200),        # {"a": 5}: a number where the deliveries cursor holds an id
    ("eyJiIjpbXX0", 200, 400),       # {"b": []}: a list where the inbox cursor holds a key
    ("W10", 400, 400),               # []: not an object
])
def test_a_cursor_no_page_gave_is_a_400_not_a_500(api, app, cursor, deliveries_status,
                                                  inbox_status):
    ids = seed_followers(api, 1)
    plan = create_plan(api, action="draft")
    r = api.get(f"/v1/plans/{plan['plan_id']}/deliveries?cursor={cursor}")
    assert r.status_code == deliveries_status
    r = api.get(f"/v1/customers/{ids[0]}/inbox?cursor={cursor}")
    assert r.status_code == inbox_status
    if r.status_code == 400:
        assert r.json["error"]["code"] == "validation_error"


def test_scheduling_twice_moves_the_schedule_and_unscheduling_twice_is_harmless(app):
    from datetime import UTC, datetime, timedelta

    from chalicelib.delivery import scheduling
    from chalicelib.settings import settings
    from chalicelib.store import schedules

    first = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    scheduling.schedule("s-sched", "plan-x", first)
    scheduling.schedule("s-sched", "plan-x", first + timedelta(hours=1))
    stored = schedules.get(scheduling.schedule_name("s-sched", "plan-x"))
    assert stored["ScheduleExpression"] == "at(2030-01-02T04:04:05)"
    assert stored["Target"]["RoleArn"].endswith(f":role/{settings().prefix}scheduler-to-sqs")
    assert stored["ActionAfterCompletion"] == "DELETE"
    assert stored["FlexibleTimeWindow"] == {"Mode": "OFF"}
    scheduling.unschedule("s-sched", "plan-x")
    scheduling.unschedule("s-sched", "plan-x")
    assert schedules.get(scheduling.schedule_name("s-sched", "plan-x")) is None


def test_sms_without_a_phone_is_skipped_and_sms_with_one_goes_through_the_local_channel(api, app):
    from datetime import UTC, datetime

    from chalicelib.store import plans

    ids = seed_followers(api, 2)
    assert api.put(f"/v1/customers/{ids[0]}", {"phone": "+66812345678"}).status_code == 200
    plans.create(plans.PlanItem(
        seller_id=api.seller_id, plan_id="pl-sms", name="sms", kind="one_off",
        status="in_progress", audience={"segment_ids": ["new_followers"]}, channels=["sms"],
        content={"text": {"en": "Hi {name}"}}, product_ids=[], created_at=0))
    from chalicelib.delivery import dispatch

    assert dispatch.dispatch(api.seller_id, "pl-sms", datetime.now(UTC)) == "dispatched"
    run_pipeline(app)
    rows = {r["customer_id"]: r for r in api.get("/v1/plans/pl-sms/deliveries").json["items"]}
    # SMS is wired now (the local channel records it; AWS End User Messaging when deployed)
    assert (rows[ids[0]]["status"], rows[ids[0]].get("reason")) == ("delivered", None)
    assert (rows[ids[1]]["status"], rows[ids[1]]["reason"]) == ("skipped", "no_phone")
    perf = api.get("/v1/plans/pl-sms/performance").json
    assert (perf["delivered"], perf["skipped"]["no_phone"]) == (1, 1)
    inbox = api.get(f"/v1/customers/{ids[0]}/inbox").json["items"]
    assert [m["channel"] for m in inbox] == ["sms"]
    assert api.get("/v1/plans/pl-sms").json["status"] == "sent"
