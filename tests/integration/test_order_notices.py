"""Order notices over the API against moto: one message per order and channel, the fixed
texts per locale, the 402 on send, the CSV upload, test sends, quiet hours and the cap."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.integration.delivery_support import iso, run_pipeline, seed_followers
from tests.integration.notice_support import (
    assert_ledger_sums,
    cost_from_ledger,
    ledger,
    notice_body,
    seed_orders,
    topup,
)


def _second_order(api, customer_id: str, order_id: str) -> None:
    r = api.post("/v1/events", {"events": [{
        "event_id": f"{order_id}-paid", "type": "order_paid", "customer_id": customer_id,
        "occurred_at": iso(datetime.now(UTC) - timedelta(hours=1)), "order_id": order_id,
        "amount": "10.00", "currency": "THB"}]})
    assert r.status_code == 202 and r.json["accepted"] == 1


def test_a_chat_and_sms_notice_sends_one_message_per_order_and_channel_and_charges_the_delivered(
        api, app):
    orders = seed_orders(api, 4, no_phone=(2,), blocked=(3,), languages=("en", "zh"))
    _second_order(api, "nc000", "nx-second")
    topup(api, "1")
    r = api.post("/v1/plans", notice_body([*orders, "nx-second"]))
    assert r.status_code == 201, r.json
    plan = r.json
    assert (plan["status"], plan["scenario"], plan["order_count"]) == ("in_progress", "delayed_shipping", 5)
    # reserved at once: SMS for o0, o1 and the second order (o2 has no phone, o3 blocked)
    assert api.get("/v1/billing").json | {"prices": None} == {
        "balance": "0.895", "reserved": "0.105", "currency": "USD", "prices": None}
    run_pipeline(app)

    pid = plan["plan_id"]
    assert api.get(f"/v1/plans/{pid}").json["status"] == "sent"
    rows = api.get(f"/v1/plans/{pid}/deliveries?limit=200").json["items"]
    got = {(d["order_id"], d["channel"]): (d["customer_id"], d["status"], d.get("reason")) for d in rows}
    assert got == {
        ("no000", "chat"): ("nc000", "delivered", None), ("no000", "sms"): ("nc000", "delivered", None),
        ("nx-second", "chat"): ("nc000", "delivered", None), ("nx-second", "sms"): ("nc000", "delivered", None),
        ("no001", "chat"): ("nc001", "delivered", None), ("no001", "sms"): ("nc001", "delivered", None),
        ("no002", "chat"): ("nc002", "delivered", None), ("no002", "sms"): ("nc002", "skipped", "no_phone"),
        ("no003", "chat"): ("nc003", "skipped", "blocked"), ("no003", "sms"): ("nc003", "skipped", "blocked")}
    # the local SMS channel stored what would be sent; the inbox shows each with its channel
    zh = api.get("/v1/customers/nc001/inbox").json["items"]
    assert sorted(m["channel"] for m in zh) == ["chat", "sms"]
    assert all("12月05日" in m["text"] and "no001" in m["text"] and m["locale"] == "zh" for m in zh)
    en = [m for m in api.get("/v1/customers/nc000/inbox").json["items"] if m["channel"] == "sms"]
    assert len(en) == 2 and all("Dec 05" in m["text"] for m in en)
    assert api.get("/v1/customers/nc003/inbox").json["items"] == []
    assert [m["channel"] for m in api.get("/v1/customers/nc002/inbox").json["items"]] == ["chat"]

    perf = api.get(f"/v1/plans/{pid}/performance").json
    assert (perf["recipients"], perf["delivered"], perf["cost"]) == (10, 7, "0.105")
    assert perf["skipped"]["blocked"] == 2 and perf["skipped"]["no_phone"] == 1
    billing = assert_ledger_sums(api)
    assert (billing["balance"], billing["reserved"]) == ("0.895", "0.000")
    assert cost_from_ledger(api, pid) == Decimal(perf["cost"])
    kinds = [e["kind"] for e in reversed(ledger(api))]
    assert kinds == ["topup", "reserve", "charge"]   # nothing left to release (0 is not written)


def test_what_was_not_delivered_is_released_when_the_plan_finishes(api, app, monkeypatch):
    """A customer who blocked the shop after the send was estimated (and reserved) for: their
    SMS is not sent, not charged, and its price comes back."""
    orders = seed_orders(api, 3, languages=("th",))
    topup(api, "0.5")
    pid = api.post("/v1/plans", notice_body(orders, channels=["sms"])).json["plan_id"]
    assert api.get("/v1/billing").json["reserved"] == "0.105"
    r = api.post("/v1/events", {"events": [{"event_id": "late-block", "type": "blocked",
                                            "customer_id": "nc001", "occurred_at": iso(datetime.now(UTC))}]})
    assert r.status_code == 202
    run_pipeline(app)
    billing = assert_ledger_sums(api)
    assert (billing["balance"], billing["reserved"]) == ("0.430", "0.000")
    assert [(e["kind"], e["amount"]) for e in ledger(api)][:2] == [("release", "0.035"), ("charge", "-0.070")]
    assert api.get(f"/v1/plans/{pid}/performance").json["cost"] == "0.070"
    sms = api.get("/v1/customers/nc000/inbox").json["items"][0]
    assert sms["channel"] == "sms" and "05/12" in sms["text"] and sms["locale"] == "th"


def test_a_send_over_the_balance_is_402_with_the_estimate_and_the_plan_stays_a_draft(api, app):
    orders = seed_orders(api, 2)
    topup(api, "0.05")
    r = api.post("/v1/plans", notice_body(orders, channels=["chat", "voice"]))
    assert r.status_code == 402, r.json
    assert r.json["error"]["code"] == "insufficient_balance"
    assert r.json["error"]["details"] == [{"estimate": "0.400", "balance": "0.050", "currency": "USD"}]
    draft = api.get("/v1/plans?kind=order_notice").json["items"][0]
    assert draft["status"] == "draft"
    later = iso(datetime.now(UTC) + timedelta(hours=2))
    assert api.patch(f"/v1/plans/{draft['plan_id']}", {"send_at": later}).status_code == 200
    r = api.post(f"/v1/plans/{draft['plan_id']}/send")      # a scheduled send is checked too
    assert r.status_code == 402 and r.json["error"]["details"][0]["estimate"] == "0.400"
    assert api.get(f"/v1/plans/{draft['plan_id']}").json["status"] == "draft"
    assert api.get("/v1/billing").json["reserved"] == "0.000"
    topup(api, "0.35")
    r = api.post(f"/v1/plans/{draft['plan_id']}/send")
    assert r.status_code == 200 and r.json["status"] == "scheduled"
    assert api.get("/v1/billing").json | {"prices": None} == {
        "balance": "0.000", "reserved": "0.400", "currency": "USD", "prices": None}
    # cancelled before it ran: everything comes back
    assert api.post(f"/v1/plans/{draft['plan_id']}/cancel").json["status"] == "cancelled"
    billing = assert_ledger_sums(api)
    assert (billing["balance"], billing["reserved"]) == ("0.400", "0.000")
    assert ledger(api)[0]["kind"] == "release" and ledger(api)[0]["amount"] == "0.400"


def test_the_currency_is_the_shops(api):
    assert api.put("/v1/settings", {"currency": "THB"}).status_code == 200
    assert api.get("/v1/billing").json["currency"] == "THB"
    assert api.put("/v1/settings", {"currency": "baht"}).status_code == 400


def test_unknown_and_repeated_orders_missing_fields_and_content_are_refused_naming_each(api):
    orders = seed_orders(api, 2)
    body = notice_body([orders[0], "never-paid", orders[0], orders[1]], action="draft")
    del body["orders"][3]["reason"]
    r = api.post("/v1/plans", body)
    assert r.status_code == 400
    assert [d["path"] for d in r.json["error"]["details"]] == [
        "orders[1]", "orders[2]", "orders[3].reason"]
    r = api.post("/v1/plans", {**notice_body(orders, action="draft"), "content": {"text": {"en": "x"}}})
    assert r.status_code == 400 and [d["path"] for d in r.json["error"]["details"]] == ["content"]
    r = api.post("/v1/plans", notice_body(orders, channels=["sms", "voice"], action="draft"))
    assert r.status_code == 400 and r.json["error"]["details"][0]["path"] == "channels"
    r = api.post("/v1/plans", {**notice_body(orders, action="draft"), "scenario": None})
    assert r.status_code == 400 and r.json["error"]["details"][0]["path"] == "scenario"
    r = api.post("/v1/plans", {**notice_body(orders[:1], action="draft"),
                               "orders": [{"order_id": orders[0], "product_name": "Rice",
                                           "ship_date": "12/05", "reason": "x"}]})
    assert r.status_code == 400 and r.json["error"]["details"][0]["path"] == "orders[0].ship_date"
    # an empty notice can be a draft, not sent
    r = api.post("/v1/plans", {**notice_body([], action="send")})
    assert r.status_code == 400 and r.json["error"]["details"][0]["path"] == "orders"
    # PATCH: the same checks, and a scenario change must fit the stored orders
    pid = api.post("/v1/plans", notice_body(orders, action="draft")).json["plan_id"]
    r = api.patch(f"/v1/plans/{pid}", {"orders": [{"order_id": "nope", "product_name": "x",
                                                   "solution": "y"}], "scenario": "out_of_stock"})
    assert r.status_code == 400 and r.json["error"]["details"][0]["path"] == "orders[0]"
    r = api.patch(f"/v1/plans/{pid}", {"scenario": "out_of_stock"})
    assert r.status_code == 200 and r.json["scenario"] == "out_of_stock"   # solution was given
    r = api.patch(f"/v1/plans/{pid}", {"orders": [{"order_id": orders[1], "product_name": "Tea",
                                                   "solution": "a swap"}]})
    assert r.status_code == 200 and r.json["order_count"] == 1
    assert api.get(f"/v1/plans/{pid}").json["orders"] == [
        {"order_id": orders[1], "product_name": "Tea", "solution": "a swap"}]
    r = api.patch(f"/v1/plans/{pid}", {"scenario": "delayed_shipping"})
    assert r.status_code == 400 and {d["path"] for d in r.json["error"]["details"]} == {
        "orders[0].ship_date", "orders[0].reason"}
    # another seller's data is a 404; a notice cannot be deleted
    assert api.as_seller("s-other").get(f"/v1/plans/{pid}").status_code == 404
    assert api.delete(f"/v1/plans/{pid}").status_code == 409


CSV = ("order_id,product_name,ship_date,reason,solution\n"
       "{a},Jasmine Rice,12月05日,storm,\n"
       "unknown-order,Tea,12月06日,late,\n"
       "{b},Tea,,late,\n"
       "{a},Rice,12月05日,storm,\n"
       "{b},Tea,2026-12-06,customs,\n")


def test_a_csv_upload_replaces_a_drafts_orders_and_reports_each_row(api, app):
    orders = seed_orders(api, 3)
    pid = api.post("/v1/plans", notice_body(orders[2:], action="draft")).json["plan_id"]
    raw = CSV.format(a=orders[0], b=orders[1]).encode()
    r = api.post(f"/v1/plans/{pid}/orders", raw=raw, headers={"Content-Type": "text/csv"})
    assert r.status_code == 200, r.json
    assert r.json == {"rows": 5, "accepted": 2, "failed": 3, "errors": [
        {"row": 2, "reason": "order 'unknown-order' is not a paid order this shop has seen"},
        {"row": 3, "reason": "ship_date required for delayed_shipping"},
        {"row": 4, "reason": f"order '{orders[0]}' is repeated"}]}
    plan = api.get(f"/v1/plans/{pid}").json
    assert plan["order_count"] == 2
    assert [(o["order_id"], o["ship_date"]) for o in plan["orders"]] == [
        (orders[0], "12月05日"), (orders[1], "2026-12-06")]
    # bad files: not UTF-8, no order_id column -> 400; over 10,000 rows -> 413
    r = api.post(f"/v1/plans/{pid}/orders", raw=b"\xff\xfe", headers={"Content-Type": "text/csv"})
    assert r.status_code == 400
    r = api.post(f"/v1/plans/{pid}/orders", raw=b"name\nx\n", headers={"Content-Type": "text/csv"})
    assert r.status_code == 400
    big = "order_id,product_name,solution\n" + "".join(f"o{i},p,s\n" for i in range(10_001))
    r = api.post(f"/v1/plans/{pid}/orders", raw=big.encode(), headers={"Content-Type": "text/csv"})
    assert r.status_code == 413
    assert api.get(f"/v1/plans/{pid}").json["order_count"] == 2
    # an operator may upload; a viewer may not; once sent it is no draft any more: 409
    assert api.as_role("viewer").post(f"/v1/plans/{pid}/orders", raw=raw, headers={
        "Content-Type": "text/csv"}).status_code == 403
    topup(api, "1")
    assert api.post(f"/v1/plans/{pid}/send").json["status"] == "in_progress"
    r = api.post(f"/v1/plans/{pid}/orders", raw=raw, headers={"Content-Type": "text/csv"})
    assert r.status_code == 409
    run_pipeline(app)
    rows = api.get(f"/v1/plans/{pid}/deliveries").json["items"]
    assert sorted((d["order_id"], d["channel"]) for d in rows) == [
        (orders[0], "chat"), (orders[0], "sms"), (orders[1], "chat"), (orders[1], "sms")]


def test_a_notice_test_send_goes_on_every_channel_charged_marked_test_and_counts_nowhere(api, app):
    orders = seed_orders(api, 2, languages=("zh",))
    pid = api.post("/v1/plans", notice_body(orders, channels=["chat", "voice"], action="draft")
                   ).json["plan_id"]
    r = api.post(f"/v1/plans/{pid}/test-send", {"customer_id": "nc001"})
    assert r.status_code == 402 and r.json["error"]["details"][0]["estimate"] == "0.200"
    topup(api, "1")
    r = api.post(f"/v1/plans/{pid}/test-send", {"customer_id": "nc001"})
    assert r.status_code == 200, r.json
    sent = r.json
    assert sent["test"] is True and sent["order_id"] == orders[0]   # the first order's text
    assert [(m["channel"], m["status"]) for m in sent["messages"]] == [
        ("chat", "delivered"), ("voice", "delivered")]
    inbox = api.get("/v1/customers/nc001/inbox").json["items"]
    assert sorted(m["channel"] for m in inbox) == ["chat", "voice"]
    assert all(m["test"] and orders[0] in m["text"] and "12月05日" in m["text"] for m in inbox)
    billing = assert_ledger_sums(api)
    assert (billing["balance"], billing["reserved"]) == ("0.800", "0.000")
    entries = ledger(api)
    assert [(e["kind"], e["amount"], e.get("test")) for e in entries[:2]] == [
        ("charge", "-0.200", True), ("reserve", "-0.200", True)]
    perf = api.get(f"/v1/plans/{pid}/performance").json
    assert (perf["recipients"], perf["delivered"], perf["cost"]) == (0, 0, "0.000")
    assert api.get(f"/v1/plans/{pid}/deliveries").json["items"] == []
    history = api.get(f"/v1/plans/{pid}/history").json["items"]
    assert [h["outcome"] for h in history] == ["delivered"]   # the 402 took no slot


def test_quiet_hours_defer_a_notice_and_notices_neither_obey_nor_count_toward_the_cap(api, app):
    [follower] = seed_followers(api, 1, prefix="f")
    orders = seed_orders(api, 1)
    _second_order(api, follower, "fo-1")
    topup(api, "1")
    assert api.put("/v1/settings", {"frequency_cap": {"max_messages": 1, "per_days": 7}}
                   ).status_code == 200
    for _ in range(2):   # two notices to the same customers: neither is capped
        r = api.post("/v1/plans", notice_body([orders[0], "fo-1"], channels=["chat"]))
        assert r.status_code == 201
        run_pipeline(app)
        rows = api.get(f"/v1/plans/{r.json['plan_id']}/deliveries").json["items"]
        assert {d["status"] for d in rows} == {"delivered"}
    # and they count in no cap: the follower still gets a marketing plan
    from tests.integration.delivery_support import create_plan

    one_off = create_plan(api)
    run_pipeline(app)
    rows = api.get(f"/v1/plans/{one_off['plan_id']}/deliveries").json["items"]
    assert [(d["customer_id"], d["status"]) for d in rows] == [(follower, "delivered")]
    # quiet hours around now: the notice is scheduled to the window's end, reserved already
    now = datetime.now(UTC)
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=2)).strftime("%H:%M")
    assert api.put("/v1/settings", {"quiet_hours": {"start": start, "end": end}}).status_code == 200
    r = api.post("/v1/plans", notice_body(orders, channels=["sms"]))
    assert r.status_code == 201 and r.json["status"] == "scheduled"
    assert r.json["warnings"][0].startswith("quiet_hours:")
    assert api.get("/v1/billing").json["reserved"] == "0.035"


def test_topups_are_owner_only_bounded_and_the_ledger_pages_newest_first(api):
    assert api.as_role("admin").post("/v1/billing/topups", {"amount": "5"}).status_code == 403
    assert api.as_role("viewer").get("/v1/billing").status_code == 200
    for bad in ("0", "-3", "1000000.001", "0.0005", "ten", None):
        r = api.post("/v1/billing/topups", {"amount": bad})
        assert r.status_code == 400 and r.json["error"]["details"][0]["path"] == "amount", bad
    made = [topup(api, amount) for amount in ("1", "2.5", "0.125", 1000000)]
    assert [m["balance"] for m in made] == ["1.000", "3.500", "3.625", "1000003.625"]
    assert made[1]["amount"] == "2.500"
    first = api.get("/v1/billing/ledger?limit=3").json
    assert [e["amount"] for e in first["items"]] == ["1000000.000", "0.125", "2.500"]
    rest = api.get(f"/v1/billing/ledger?limit=3&cursor={first['next_cursor']}").json
    assert [e["amount"] for e in rest["items"]] == ["1.000"] and rest["next_cursor"] is None
    assert first["items"][0]["topup_id"] == made[3]["topup_id"]
    assert api.as_seller("s-nobody").get("/v1/billing").json["balance"] == "0.000"
    assert api.get("/v1/billing/ledger?cursor=bogus").status_code == 400


def test_order_notice_templates_are_listed(api):
    items = api.get("/v1/templates?kind=order_notice&locale=zh").json["items"]
    assert [t["template_id"] for t in items] == ["delayed_shipping", "out_of_stock"]
    assert all(list(t["text"]) == ["zh"] for t in items)
