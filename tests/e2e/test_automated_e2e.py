"""Automated plans end to end on the local stack: events over HTTP, the events poller runs
the triggers, the stack's due sweeper sends, the metrics poller counts (polled with a
deadline: a due message goes out within 60 s of its due time)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

DEADLINE_S = 120


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _inbox(http, cid, plan_id):
    r = http.call("GET", f"/v1/customers/{cid}/inbox")
    assert r.status_code == 200, r.text
    return [m for m in r.json()["items"] if m["plan_id"] == plan_id]


def _plan(http, trigger):
    r = http.call("POST", "/v1/plans", json={
        "name": "Automated e2e", "kind": "automated", "trigger": trigger, "channels": ["chat"],
        "content": {"text": {"en": "Hi {name}: {product}"}}, "action": "send"})
    assert r.status_code == 201 and r.json()["status"] == "active", r.text
    return r.json()["plan_id"]


def test_abandoned_cart_and_thank_you_go_out_over_the_local_stack(http):
    now = datetime.now(UTC)
    for pid, name in (("p1", "Rice"), ("p2", "Tea")):
        assert http.call("PUT", f"/v1/products/{pid}", json={
            "name": name, "price": "10.00", "currency": "THB"}).status_code in (200, 201)
    for cid in ("cart", "buyer"):
        assert http.call("PUT", f"/v1/customers/{cid}", json={"name": cid.title(),
                                                              "language": "en"}).status_code in (200, 201)
    cart_plan = _plan(http, {"type": "abandoned_cart"})            # 60 minutes after the cart
    thanks_plan = _plan(http, {"type": "thank_you"})               # at once
    r = http.call("POST", "/v1/events", json={"events": [
        {"event_id": "e-c1", "type": "cart_added", "customer_id": "cart", "product_id": "p1",
         "occurred_at": iso(now - timedelta(minutes=62))},
        {"event_id": "e-c2", "type": "cart_added", "customer_id": "cart", "product_id": "p2",
         "occurred_at": iso(now - timedelta(minutes=61))},
        {"event_id": "e-o1", "type": "order_paid", "customer_id": "buyer", "order_id": "o1",
         "amount": "10.00", "currency": "THB", "product_ids": ["p1"],
         "occurred_at": iso(now - timedelta(seconds=5))}]})
    assert r.status_code == 202 and r.json()["accepted"] == 3, r.text

    cart = http.wait_for(lambda: _inbox(http, "cart", cart_plan), timeout=DEADLINE_S)
    assert cart and cart[0]["product_ids"] == ["p2", "p1"] and cart[0]["button"] == {"type": "cart"}
    thanks = http.wait_for(lambda: _inbox(http, "buyer", thanks_plan), timeout=DEADLINE_S)
    assert thanks and thanks[0]["text"] == "Hi Buyer: Rice"
    assert thanks[0]["button"] == {"type": "product_list"}

    def counted(plan_id):
        perf = http.call("GET", f"/v1/plans/{plan_id}/performance").json()
        return perf if perf["delivered"] == 1 else None

    for plan_id in (cart_plan, thanks_plan):
        perf = http.wait_for(lambda p=plan_id: counted(p), timeout=DEADLINE_S)
        assert perf and perf["triggered"] == 1 and perf["recipients"] == 1, perf
        [row] = http.call("GET", f"/v1/plans/{plan_id}/deliveries").json()["items"]
        assert row["status"] == "delivered" and row["occurrence"]
    # Ingesting the same events again changes nothing.
    again = http.call("POST", "/v1/events", json={"events": [
        {"event_id": "e-o1", "type": "order_paid", "customer_id": "buyer", "order_id": "o1",
         "amount": "10.00", "currency": "THB", "occurred_at": iso(now)}]})
    assert again.json()["duplicates"] == 1


def test_demo_shop_has_an_active_automated_plan_with_history(demo):
    items = demo.call("GET", "/v1/plans?kind=automated&status=active").json()["items"]
    assert "demo-plan-auto-thanks" in [p["plan_id"] for p in items]

    def figures():
        perf = demo.call("GET", "/v1/plans/demo-plan-auto-thanks/performance").json()
        return perf if perf["delivered"] >= 1 else None

    perf = demo.wait_for(figures, timeout=120)
    assert perf and perf["triggered"] >= perf["delivered"] >= 1, perf
