"""Automated plans over the API (moto in-process): the form and its refusals, the
lifecycle, and every trigger, exit and skip reason from event to inbox and counters."""

from __future__ import annotations

from datetime import timedelta

import pytest

from tests.integration.automated_support import (
    add_product,
    customer,
    deliveries,
    ev,
    events,
    inbox,
    now,
    performance,
    plan,
    sweep,
)

MIN = timedelta(minutes=1)


@pytest.mark.parametrize("body, path", [
    ({"trigger": {"type": "nope"}}, "trigger"),
    ({"trigger": {"type": "abandoned_cart", "delay_minutes": 20000}}, "trigger.delay_minutes"),
    ({"trigger": {"type": "live_reminder"}}, "audience"),
    ({"trigger": {"type": "thank_you"}, "window": {"end": "2020-01-01T00:00:00Z"}}, "window.end"),
    ({"trigger": {"type": "thank_you"}, "cooldown_hours": 721}, "cooldown_hours"),
    ({"trigger": {"type": "thank_you"}, "voucher": {"mode": "smart", "voucher_ids": ["nope"]}},
     "voucher.voucher_ids[0]"),
])
def test_a_bad_automated_form_is_a_400_naming_the_field(api, body, path):
    r = api.post("/v1/plans", {"name": "x", "kind": "automated", "content": {"text": {"en": "hi"}},
                               **body})
    assert r.status_code == 400, r.json
    assert path in [d["path"] for d in r.json["error"]["details"]], r.json


def test_send_needs_a_trigger(api):
    draft = plan(api, None, action="draft")
    assert draft["status"] == "draft" and draft["trigger"] is None
    r = api.post(f"/v1/plans/{draft['plan_id']}/send")
    assert r.status_code == 400 and "trigger" in [d["path"] for d in r.json["error"]["details"]]


def test_lifecycle_draft_active_paused_cancelled(api):
    p = plan(api, {"type": "abandoned_cart"}, action="draft")
    assert p["trigger"] == {"type": "abandoned_cart", "delay_minutes": 60}
    assert p["cooldown_hours"] == 24 and p["holdout_percent"] == 0
    pid = p["plan_id"]
    r = api.patch(f"/v1/plans/{pid}", {"trigger": {"type": "abandoned_cart", "delay_minutes": 5},
                                       "cooldown_hours": 0})
    assert r.status_code == 200 and r.json["trigger"]["delay_minutes"] == 5
    assert r.json["cooldown_hours"] == 0
    assert api.post(f"/v1/plans/{pid}/resume").status_code == 409
    assert api.post(f"/v1/plans/{pid}/send").json["status"] == "active"
    assert api.post(f"/v1/plans/{pid}/send").status_code == 409
    assert api.patch(f"/v1/plans/{pid}", {"name": "y"}).status_code == 409
    assert api.post(f"/v1/plans/{pid}/pause").json["status"] == "paused"
    assert api.post(f"/v1/plans/{pid}/pause").status_code == 409
    assert api.post(f"/v1/plans/{pid}/resume").json["status"] == "active"
    listed = api.get("/v1/plans?kind=automated&status=active").json["items"]
    assert [i["plan_id"] for i in listed] == [pid]
    assert api.post(f"/v1/plans/{pid}/cancel").json["status"] == "cancelled"
    assert api.post(f"/v1/plans/{pid}/resume").status_code == 409
    assert api.delete(f"/v1/plans/{pid}").status_code == 409


def test_a_plan_past_its_window_end_reads_ended(api, app):
    p = plan(api, {"type": "thank_you"},
             window={"end": (now() + timedelta(seconds=10)).isoformat()})
    assert p["status"] == "active"      # 10 s ahead: still active when read back, however slow
    import time
    deadline = time.monotonic() + 30      # the window's end is a wall-clock moment: poll it
    while api.get(f"/v1/plans/{p['plan_id']}").json["status"] != "ended":
        assert time.monotonic() < deadline, "never read ended"
        time.sleep(0.2)
    customer(api, "c1")
    events(api, ev("order_paid", "c1", "o1", order_id="o1", amount="10", currency="THB"))
    sweep(app, now())
    assert performance(api, p["plan_id"])["triggered"] == 0
    assert api.post(f"/v1/plans/{p['plan_id']}/pause").status_code == 409


def test_abandoned_cart_is_due_delay_minutes_after_the_latest_cart_added(api, app):
    for pid in ("p1", "p2", "p3"):
        add_product(api, pid, f"Product {pid}")
    customer(api, "c1")
    p = plan(api, {"type": "abandoned_cart", "delay_minutes": 60})
    events(api, ev("cart_added", "c1", "e1", 30 * MIN, product_id="p1"),
           ev("cart_added", "c1", "e2", 20 * MIN, product_id="p2"),
           ev("cart_added", "c1", "e3", 10 * MIN, product_id="p3"),
           ev("cart_removed", "c1", "e4", 5 * MIN, product_id="p3"))
    assert sweep(app, now() + 45 * MIN).get("delivered") is None   # 60 after the first: not yet
    assert inbox(api, "c1", p["plan_id"]) == []
    sweep(app, now() + 51 * MIN)                                    # 60 after the latest
    [message] = inbox(api, "c1", p["plan_id"])
    assert message["product_ids"] == ["p2", "p1"]                   # still in the cart, latest first
    assert message["button"] == {"type": "cart"}
    assert message["text"] == "Hi Name c1, Product p2 "
    perf = performance(api, p["plan_id"])
    assert (perf["triggered"], perf["recipients"], perf["delivered"]) == (1, 1, 1)
    [row] = deliveries(api, p["plan_id"])
    assert row["status"] == "delivered" and row["occurrence"].startswith("cart#c1#")
    # A new cart in the same episode (no order since) is the same occurrence: nothing more.
    events(api, ev("cart_added", "c1", "e5", product_id="p3"))
    sweep(app, now() + 2 * 60 * MIN)
    assert len(inbox(api, "c1", p["plan_id"])) == 1
    assert performance(api, p["plan_id"])["triggered"] == 1


def test_abandoned_cart_exits_when_the_customer_paid_and_a_paid_order_starts_a_new_episode(api, app):
    add_product(api, "p1")
    customer(api, "c1")
    p = plan(api, {"type": "abandoned_cart", "delay_minutes": 10}, cooldown_hours=0)
    events(api, ev("cart_added", "c1", "e1", 5 * MIN, product_id="p1"),
           ev("order_paid", "c1", "o1", 2 * MIN, order_id="o1", amount="129.90", currency="THB",
              product_ids=["p1"]))
    sweep(app, now() + 10 * MIN)
    assert deliveries(api, p["plan_id"])[0]["reason"] == "exited"
    events(api, ev("cart_added", "c1", "e2", MIN, product_id="p1"))   # a new episode
    sweep(app, now() + 10 * MIN)
    assert len(inbox(api, "c1", p["plan_id"])) == 1
    perf = performance(api, p["plan_id"])
    assert (perf["triggered"], perf["delivered"], perf["skipped"]["exited"]) == (2, 1, 1)


def test_incomplete_payment_is_recovered_by_order_paid_of_the_same_order(api, app):
    add_product(api, "p1")
    customer(api, "c1")
    customer(api, "c2")
    p = plan(api, {"type": "incomplete_payment"})
    events(api, ev("payment_started", "c1", "s1", 40 * MIN, order_id="o1", amount="10",
                   product_ids=["p1"]),
           ev("payment_started", "c2", "s2", 40 * MIN, order_id="o2", amount="10"),
           ev("order_paid", "c2", "o2", 35 * MIN, order_id="o2", amount="10", currency="THB"))
    sweep(app, now())
    by_customer = {d["customer_id"]: d for d in deliveries(api, p["plan_id"])}
    assert by_customer["c1"]["status"] == "delivered"
    assert by_customer["c2"]["reason"] == "exited"
    [message] = inbox(api, "c1", p["plan_id"])
    assert message["button"] == {"type": "cart"} and message["product_ids"] == ["p1"]


def test_thank_you_sends_the_orders_products_and_skips_a_refunded_order(api, app):
    for pid in ("p1", "p2", "p3", "p4", "p5"):
        add_product(api, pid)
    customer(api, "c1")
    customer(api, "c2")
    p = plan(api, {"type": "thank_you", "delay_minutes": 30})
    events(api, ev("order_paid", "c1", "o1", 40 * MIN, order_id="o1", amount="10",
                   currency="THB", product_ids=["p1", "p2", "p3", "p4", "p5"]),
           ev("order_paid", "c2", "o2", 40 * MIN, order_id="o2", amount="10", currency="THB"),
           ev("order_refunded", "c2", "r2", 35 * MIN, order_id="o2"))
    sweep(app, now())
    [message] = inbox(api, "c1", p["plan_id"])
    assert message["product_ids"] == ["p1", "p2", "p3", "p4"]
    assert message["button"] == {"type": "product_list"}
    assert {d["customer_id"]: d.get("reason") for d in deliveries(api, p["plan_id"])} == \
        {"c1": None, "c2": "exited"}


def test_price_drop_messages_who_favourited_or_carted_it_and_did_not_buy_it_since(api, app):
    add_product(api, "p1", "Rice")
    for cid in ("fav", "cart", "bought", "old", "other"):
        customer(api, cid)
    events(api, ev("favorited", "fav", "f1", timedelta(days=2), product_id="p1"),
           ev("cart_added", "cart", "f2", timedelta(hours=3), product_id="p1"),
           ev("favorited", "bought", "f3", timedelta(days=3), product_id="p1"),
           ev("order_paid", "bought", "f4", timedelta(days=1), order_id="ob", amount="5",
              currency="THB", product_ids=["p1"]),
           ev("favorited", "other", "f5", timedelta(days=1), product_id="p9"))
    p = plan(api, {"type": "price_drop", "min_drop_percent": 10})
    sweep(app, now())
    events(api, ev("price_dropped", None, "d1", old_price="100", new_price="95", product_id="p1"))
    sweep(app, now())
    assert performance(api, p["plan_id"])["triggered"] == 0          # a 5 % drop: below 10
    events(api, ev("price_dropped", None, "d2", old_price="100", new_price="80", product_id="p1"))
    sweep(app, now())
    assert sorted(d["customer_id"] for d in deliveries(api, p["plan_id"])) == ["cart", "fav"]
    [message] = inbox(api, "fav", p["plan_id"])
    assert message["product_ids"] == ["p1"] and message["button"] == {"type": "cart"}


def test_live_reminder_messages_the_audience_lead_minutes_before_the_start(api, app):
    from tests.integration.delivery_support import seed_followers

    ids = seed_followers(api, 3, prefix="lv")
    customer(api, "stranger")
    p = plan(api, {"type": "live_reminder", "lead_minutes": 10},
             audience={"segment_ids": ["new_followers"]})
    starts = now() + 30 * MIN
    events(api, ev("live_started", None, "L1", live_id="live-1", starts_at=starts.isoformat()))
    sweep(app, now() + 15 * MIN)
    assert deliveries(api, p["plan_id"]) == []
    sweep(app, now() + 21 * MIN)
    assert sorted(d["customer_id"] for d in deliveries(api, p["plan_id"])) == ids
    [message] = inbox(api, ids[0], p["plan_id"])
    assert message["button"] == {"type": "live", "target": "live-1"}
    assert message["product_ids"] == []


@pytest.mark.parametrize("case, reason", [
    ("blocked", "blocked"), ("unsubscribed", "unsubscribed"), ("paused", "paused"),
    ("outside_window", "outside_window"), ("not_in_audience", "not_in_audience"),
    ("frequency_cap", "frequency_cap"), ("holdout", "holdout")])
def test_a_due_message_is_skipped_with_its_reason_and_counted(api, app, case, reason):
    add_product(api, "p1")
    customer(api, "c1")
    extra: dict = {}
    if case == "outside_window":
        extra["window"] = {"start": (now() + timedelta(days=1)).isoformat()}
    if case == "not_in_audience":
        extra["audience"] = {"segment_ids": ["loyal"]}
    if case == "holdout":
        from chalicelib.domain.automated import held_out
        extra["holdout_percent"] = 50
    if case == "frequency_cap":   # another plan's message, before this plan starts
        assert api.put("/v1/settings", {"frequency_cap": {"max_messages": 1, "per_days": 7}}
                       ).status_code == 200
        other = plan(api, {"type": "thank_you"})
        events(api, ev("order_paid", "c1", "o0", 20 * MIN, order_id="o0", amount="1",
                       currency="THB"))
        sweep(app, now())
        assert len(inbox(api, "c1", other["plan_id"])) == 1
    p = plan(api, {"type": "thank_you", "delay_minutes": 5}, **extra)
    cid = "c1"
    if case == "holdout":   # a customer the stable hash holds out
        cid = next(f"h{i}" for i in range(200) if held_out(p["plan_id"], f"h{i}", 50))
        customer(api, cid)
    if case in ("blocked", "unsubscribed"):
        events(api, ev(case, cid, f"{case}-1", 10 * MIN))
    events(api, ev("order_paid", cid, "o1", 10 * MIN, order_id="o1", amount="1", currency="THB"))
    if case == "paused":
        run_events(app)
        api.post(f"/v1/plans/{p['plan_id']}/pause")
    sweep(app, now())
    if case == "paused":   # not sent after a resume either
        api.post(f"/v1/plans/{p['plan_id']}/resume")
        sweep(app, now())
    rows = [d for d in deliveries(api, p["plan_id"]) if d["customer_id"] == cid]
    assert [(d["status"], d.get("reason")) for d in rows] == [("skipped", reason)]
    assert inbox(api, cid, p["plan_id"]) == []
    perf = performance(api, p["plan_id"])
    assert perf["skipped"][reason] == 1 and perf["delivered"] == 0


def run_events(app):
    from tests.integration.delivery_support import run_pipeline
    run_pipeline(app)


def test_cooldown_lets_one_message_per_customer_through_per_cooldown(api, app):
    customer(api, "c1")
    p = plan(api, {"type": "thank_you"}, cooldown_hours=24)
    events(api, ev("order_paid", "c1", "o1", 20 * MIN, order_id="o1", amount="1", currency="THB"))
    sweep(app, now())
    events(api, ev("order_paid", "c1", "o2", 10 * MIN, order_id="o2", amount="1", currency="THB"))
    sweep(app, now())
    rows = sorted((d["occurrence"], d["status"], d.get("reason")) for d in deliveries(api, p["plan_id"]))
    assert rows == [("order#o1", "delivered", None), ("order#o2", "skipped", "cooldown")]
    assert performance(api, p["plan_id"])["skipped"]["cooldown"] == 1


def test_quiet_hours_defer_a_due_message_to_the_end_of_the_window(api, app):
    from chalicelib.delivery import timers

    customer(api, "c1")
    current = now()
    start = (current - timedelta(hours=1)).strftime("%H:%M")
    end = (current + timedelta(hours=1)).strftime("%H:%M")
    assert api.put("/v1/settings", {"quiet_hours": {"start": start, "end": end}}).status_code == 200
    p = plan(api, {"type": "thank_you"})
    events(api, ev("order_paid", "c1", "o1", MIN, order_id="o1", amount="1", currency="THB"))
    got = sweep(app, current)
    assert got.get("deferred") == 1 and inbox(api, "c1", p["plan_id"]) == []
    assert timers.sweep(current + timedelta(minutes=30)).get("delivered") is None
    sweep(app, current + timedelta(hours=1, minutes=1))
    assert len(inbox(api, "c1", p["plan_id"])) == 1


def test_smart_voucher_is_picked_per_message_and_counted_from_vouchers_given_out(api, app):
    add_product(api, "p1", "Rice")    # 129.90
    vouchers = {}
    for name, min_spend, quantity in (("far", "300", None), ("nudge", "150", 1), ("usable", "100", None)):
        r = api.post("/v1/vouchers", {"name": name, "kind": "regular",
                                      "discount": {"type": "amount", "value": "10"},
                                      "min_spend": min_spend, "quantity": quantity})
        assert r.status_code == 201, r.json
        vouchers[name] = r.json["voucher_id"]
    customer(api, "c1")
    customer(api, "c2")
    p = plan(api, {"type": "thank_you"}, voucher={"mode": "smart"})
    events(api, ev("order_paid", "c1", "o1", MIN, order_id="o1", amount="1", currency="THB",
                   product_ids=["p1"]),
           ev("order_paid", "c2", "o2", MIN, order_id="o2", amount="1", currency="THB",
              product_ids=["p1"]))
    sweep(app, now())
    got = sorted((inbox(api, c, p["plan_id"])[0]["voucher"]["voucher_id"], c) for c in ("c1", "c2"))
    # 150 is a nudge above 129.90 (≤ 1.5 ×) but only one is left: the other gets the best usable.
    assert sorted(v for v, _ in got) == sorted([vouchers["nudge"], vouchers["usable"]])
    assert all(inbox(api, c, p["plan_id"])[0]["voucher"]["smart"] is True for c in ("c1", "c2"))


def test_smart_voucher_considers_only_the_coupon_families_the_customer_qualifies_for(api, app):
    add_product(api, "p1", "Rice")    # 129.90
    ids = {}
    for name, family, value in (("welcome", "new_customer", "50"), ("anyone", None, "10")):
        r = api.post("/v1/vouchers", {"name": name, "kind": "regular", "family": family,
                                      "discount": {"type": "amount", "value": value},
                                      "min_spend": "100"})
        assert r.status_code == 201, r.json
        ids[name] = r.json["voucher_id"]
    customer(api, "c1")
    p = plan(api, {"type": "thank_you"}, voucher={"mode": "smart"})
    events(api, ev("order_paid", "c1", "o1", MIN, order_id="o1", amount="1", currency="THB",
                   product_ids=["p1"]))
    sweep(app, now())
    # "welcome" gives more off 129.90 but is for customers with no paid order: c1 has one.
    got = inbox(api, "c1", p["plan_id"])[0]["voucher"]
    assert (got["voucher_id"], got["smart"]) == (ids["anyone"], True)


def test_reads_clicks_and_attributed_orders_count_per_message(api, app):
    add_product(api, "p1")
    customer(api, "c1")
    p = plan(api, {"type": "abandoned_cart", "delay_minutes": 0})
    pid = p["plan_id"]
    events(api, ev("cart_added", "c1", "e1", 2 * MIN, product_id="p1"))
    sweep(app, now())
    assert len(inbox(api, "c1", pid)) == 1
    events(api, ev("message_read", "c1", "r1", plan_id=pid),
           ev("message_clicked", "c1", "k1", plan_id=pid),
           ev("message_read", "c1", "r2", plan_id=pid))           # a second read: still one
    sweep(app, now())
    events(api, ev("order_paid", "c1", "o1", order_id="o1", amount="129.90", currency="THB",
                   product_ids=["p1"]))
    sweep(app, now())
    perf = performance(api, pid)
    assert (perf["delivered"], perf["read"], perf["clicked"], perf["orders"], perf["gmv"]) == \
        (1, 1, 1, 1, "129.90")


def test_the_shops_send_rate_paces_automated_messages_and_drops_none(api, app, monkeypatch):
    from chalicelib.delivery import pacing

    clock = [pacing.clock_ms()]
    monkeypatch.setattr(pacing, "clock_ms", lambda: clock[0])
    assert api.put("/v1/settings", {"send_rate_per_minute": 1}).status_code == 200
    people = [customer(api, c) for c in ("c1", "c2", "c3")]
    p = plan(api, {"type": "thank_you"})
    events(api, *[ev("order_paid", c, f"o-{c}", MIN, order_id=f"o-{c}", amount="1",
                     currency="THB") for c in people])

    def sent() -> int:
        return sum(len(inbox(api, c, p["plan_id"])) for c in people)

    sweep(app, now(), lease_ms=1)
    assert sent() == 1                      # one a minute: the others wait, claimed
    for n in (2, 3):
        clock[0] += 120_000                 # the pace's next minute
        sweep(app, now() + timedelta(seconds=n), lease_ms=1)
        assert sent() == n
    perf = performance(api, p["plan_id"])
    assert (perf["triggered"], perf["delivered"]) == (3, 3)


def test_a_holdout_is_measured_per_occurrence_from_its_due_time(api, app):
    """Automated plans: each delivered or held-out occurrence converted when its customer
    paid an order within the window after the occurrence's due time (docs/automated-plans.md)."""
    from decimal import Decimal

    from chalicelib.domain.automated import held_out
    from chalicelib.domain.lift import newcombe

    p = plan(api, {"type": "thank_you", "delay_minutes": 5}, holdout_percent=50)
    pid = p["plan_id"]
    pool = [f"k{i}" for i in range(60)]
    held = [c for c in pool if held_out(pid, c, 50)][:2]
    sent = [c for c in pool if not held_out(pid, c, 50)][:2]
    for cid in sent + held:
        customer(api, cid)
    # The triggering orders (due 15 minutes ago: before the due time, so no conversion).
    events(api, *[ev("order_paid", c, f"t-{c}", 20 * MIN, order_id=f"t-{c}", amount="99",
                     currency="THB") for c in sent + held])
    sweep(app, now() - 2 * MIN)
    assert performance(api, pid)["skipped"]["holdout"] == 2
    # Later orders, one duplicated under a new event id (their own occurrences stay pending).
    later = [ev("order_paid", sent[0], "l1", 5 * MIN, order_id="l1", amount="30", currency="THB"),
             ev("order_paid", sent[0], "l1b", 5 * MIN, order_id="l1", amount="30", currency="THB"),
             ev("order_paid", held[0], "l2", 5 * MIN, order_id="l2", amount="40", currency="THB")]
    events(api, *later)
    sweep(app, now() - 2 * MIN)
    perf = performance(api, pid)
    assert perf["delivered"] == 2
    assert perf["holdout"] == {"size": 2, "converted": 1, "conversion": 0.5}
    assert perf["recipients_conversion"] == 0.5
    d, lo, hi = newcombe(1, 2, 1, 2)
    assert perf["lift"]["absolute"] == d and perf["lift"]["ci95"] == pytest.approx([lo, hi])
    assert perf["incremental_gmv"] == f"{Decimal('30') - Decimal('40') * 2 / 2:.2f}"
