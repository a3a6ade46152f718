"""The overview and a segment's performance over HTTP on the real local stack: a plan sent
through the queues, reads, a click and orders ingested as events, then the figures the
rollups give (docs/overview.md)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _events(http, events: list[dict]) -> None:
    r = http.call("POST", "/v1/events", json={"events": events})
    assert r.status_code == 202 and not r.json()["rejected"], r.text


def _bangkok_day() -> str:
    return datetime.now(ZoneInfo("Asia/Bangkok")).date().isoformat()


def test_a_sent_plan_and_its_engagement_show_in_the_overview_and_segment_performance(http):
    # The shop's day, read once: the sends and events below happen on it. Read again after the
    # waits it could be the next day (Bangkok midnight is 17:00 UTC, when CI may well run).
    today = _bangkok_day()
    assert http.call("PUT", "/v1/settings", json={"timezone": "Asia/Bangkok"}).status_code == 200
    assert http.call("PUT", "/v1/products/rice", json={"name": "Rice", "price": "99.00",
                                                       "currency": "THB"}).status_code == 201
    now = datetime.now(UTC)
    ids = [f"c{i}" for i in range(5)]
    for cid in ids:
        assert http.call("PUT", f"/v1/customers/{cid}", json={"name": cid}).status_code == 201
    _events(http, [{"event_id": f"{cid}-f", "type": "followed", "customer_id": cid,
                    "occurred_at": _iso(now - timedelta(hours=5))} for cid in ids])
    r = http.call("POST", "/v1/plans", json={
        "name": "Rice week", "audience": {"segment_ids": ["new_followers"]},
        "content": {"text": {"en": "Hi {name}"}}, "product_ids": ["rice"], "action": "send"})
    assert r.status_code == 201, r.text
    plan_id = r.json()["plan_id"]
    sent = http.wait_for(lambda: http.call("GET", f"/v1/plans/{plan_id}").json()["status"]
                         == "sent", timeout=120)
    assert sent, http.call("GET", f"/v1/plans/{plan_id}").json()

    now = datetime.now(UTC)
    touch = [{"event_id": f"{c}-{t}", "type": t, "customer_id": c, "plan_id": plan_id,
              "occurred_at": _iso(now)}
             for c, t in (("c0", "message_read"), ("c1", "message_read"), ("c2", "message_read"),
                          ("c0", "message_clicked"))]
    _events(http, touch)
    # Let engagement record the reads before the order comes (attribution reads them back).
    read = http.wait_for(lambda: http.call("GET", f"/v1/plans/{plan_id}/performance").json()
                         ["read"] == 3, timeout=120)
    assert read, http.call("GET", f"/v1/plans/{plan_id}/performance").json()
    orders = [{"event_id": "o1-paid", "type": "order_paid", "customer_id": "c0", "order_id": "o1",
               "amount": "99.00", "currency": "THB", "occurred_at": _iso(now + timedelta(seconds=1))},
              {"event_id": "o2-paid", "type": "order_paid", "customer_id": "walk-in",
               "order_id": "o2", "amount": "33.00", "currency": "THB", "occurred_at": _iso(now)},
              {"event_id": "o3-paid", "type": "order_paid", "customer_id": "walk-in",
               "order_id": "o3", "amount": "500.00", "currency": "THB", "occurred_at": _iso(now)}]
    _events(http, orders)
    _events(http, [{"event_id": "o3-refund", "type": "order_refunded", "customer_id": "walk-in",
                    "order_id": "o3", "occurred_at": _iso(now + timedelta(seconds=2))}])
    _events(http, touch + orders)      # every event again: duplicates change nothing

    asked: list[str] = []       # the shop's day around the overview's request

    def settled():
        asked[:] = [_bangkok_day()]
        body = http.call("GET", "/v1/overview?days=7").json()
        asked.append(_bangkok_day())
        done = (body["funnel"]["ordered"] == 1 and body["shop_orders"] == 2
                and body["funnel"]["clicked"] == 1)
        return body if done else None

    body = http.wait_for(settled, timeout=120)
    assert body, http.call("GET", "/v1/overview?days=7").json()
    assert body["funnel"] == {"reached": 5, "read": 3, "clicked": 1, "ordered": 1}
    assert (body["gmv"], body["orders"], body["shop_gmv"], body["shop_orders"]) == \
        ("99.00", 1, "132.00", 2)
    assert body["gmv_share"] == 0.75 and body["plans"] == 1
    assert body["customers"] == 6 and body["segments"]["new_followers"] == 5
    assert body["plans_top"] == [{"plan_id": plan_id, "name": "Rice week", "recipients": 5,
                                  "orders": 1, "gmv": "99.00"}]
    # the window ends on the shop's day of the request; the figures are on the test's day
    assert len(body["daily"]) == 7 and body["daily"][-1]["date"] in asked
    day = next((d for d in body["daily"] if d["date"] == today), None)
    assert day == {"date": today, "reached": 5, "read": 3, "clicked": 1,
                   "orders": 1, "gmv": "99.00"}, body["daily"]

    r = http.call("GET", "/v1/segments/new_followers/performance?days=7")
    assert r.status_code == 200, r.text
    row = {"plan_id": plan_id, "name": "Rice week", "recipients": 5, "read": 3, "clicked": 1,
           "orders": 1, "gmv": "99.00"}
    assert r.json() == {"segment_id": "new_followers", "plans": [row],
                        "totals": {k: v for k, v in row.items() if k not in ("plan_id", "name")}}
    assert http.call("GET", "/v1/segments/loyal/performance").json()["plans"] == []
    assert http.call("GET", "/v1/overview?days=366").status_code == 400
