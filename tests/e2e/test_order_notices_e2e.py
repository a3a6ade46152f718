"""An order notice over chat and SMS on the real local stack, over HTTP, with billing end to
end: top up, a 402 while the balance is short, the send reserves, the pollers deliver one
message per order and channel (the local SMS channel shows in the inbox), the delivered
SMS are charged, the rest released, and the ledger adds up; concurrent sends never
overspend."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _seed(http, count: int, prefix: str = "") -> list[str]:
    now = datetime.now(UTC)
    events, orders = [], []
    for i in range(count):
        cid, oid = f"{prefix}b{i}", f"{prefix}DY{i:04d}"
        body = {"name": f"Buyer {i}", "language": ("zh", "en")[i % 2]}
        if i != 2:
            body["phone"] = f"+6681{i:07d}"
        assert http.call("PUT", f"/v1/customers/{cid}", json=body).status_code == 201
        events.append({"event_id": f"{oid}-paid", "type": "order_paid", "customer_id": cid,
                       "occurred_at": _iso(now - timedelta(hours=2)), "order_id": oid,
                       "amount": "59.00", "currency": "CNY"})
        orders.append(oid)
    assert http.call("POST", "/v1/events", json={"events": events}).status_code == 202
    return orders


def _notice(orders, action="send") -> dict:
    return {"name": "Delayed rice", "kind": "order_notice", "scenario": "delayed_shipping",
            "channels": ["sms", "chat"], "action": action,
            "orders": [{"order_id": o, "product_name": "五常大米", "ship_date": "12月05日",
                        "reason": "暴雪"} for o in orders]}


def _ledger(http) -> list[dict]:
    return http.call("GET", "/v1/billing/ledger?limit=200").json()["items"]


def _sums_hold(http) -> dict:
    billing = http.call("GET", "/v1/billing").json()
    moved = sum((Decimal(e["amount"]) for e in _ledger(http) if e["kind"] != "charge"), Decimal(0))
    assert Decimal(billing["balance"]) == moved >= 0
    return billing


def test_an_sms_and_chat_notice_with_billing_end_to_end(http):
    assert http.call("PUT", "/v1/settings", json={"currency": "CNY"}).status_code == 200
    orders = _seed(http, 4)
    r = http.call("POST", "/v1/plans", json=_notice(orders))
    assert r.status_code == 402, r.text
    assert r.json()["error"]["details"] == [{"estimate": "0.105", "balance": "0.000", "currency": "CNY"}]
    draft = http.call("GET", "/v1/plans?kind=order_notice").json()["items"][0]
    assert draft["status"] == "draft"
    assert http.as_role("admin").call("POST", "/v1/billing/topups", json={"amount": "1"}).status_code == 403
    r = http.call("POST", "/v1/billing/topups", json={"amount": "0.5"})
    assert r.status_code == 201 and r.json()["balance"] == "0.500"

    r = http.call("POST", f"/v1/plans/{draft['plan_id']}/send")
    assert r.status_code == 200 and r.json()["status"] == "in_progress", r.text
    pid = draft["plan_id"]
    billing = http.call("GET", "/v1/billing").json()
    assert (billing["balance"], billing["reserved"], billing["currency"]) == ("0.395", "0.105", "CNY")
    assert billing["prices"] == {"sms": "0.035", "voice": "0.200"}

    sent = http.wait_for(lambda: http.call("GET", f"/v1/plans/{pid}").json()["status"] == "sent",
                         timeout=120)
    assert sent
    released = http.wait_for(lambda: http.call("GET", "/v1/billing").json()["reserved"] == "0.000",
                             timeout=120)
    assert released
    inbox = http.call("GET", "/v1/customers/b0/inbox").json()["items"]
    assert sorted(m["channel"] for m in inbox) == ["chat", "sms"]
    assert all("DY0000" in m["text"] and "12月05日" in m["text"] and "暴雪" in m["text"] for m in inbox)
    en = http.call("GET", "/v1/customers/b1/inbox").json()["items"]
    assert all("Dec 05" in m["text"] for m in en)
    rows = http.call("GET", f"/v1/plans/{pid}/deliveries").json()["items"]
    assert len(rows) == 8 and all(r["order_id"] in orders for r in rows)
    assert [(r["order_id"], r["channel"], r.get("reason")) for r in rows if r["status"] == "skipped"] \
        == [(orders[2], "sms", "no_phone")]

    perf = http.wait_for(lambda: (p := http.call("GET", f"/v1/plans/{pid}/performance").json())
                         ["delivered"] == 7 and p, timeout=120)
    assert perf and perf["cost"] == "0.105" and perf["skipped"]["no_phone"] == 1
    billing = _sums_hold(http)
    assert (billing["balance"], billing["reserved"]) == ("0.395", "0.000")
    charges = [e for e in _ledger(http) if e["kind"] == "charge"]
    assert -sum(Decimal(e["amount"]) for e in charges) == Decimal(perf["cost"])


def test_concurrent_sends_over_http_never_take_the_balance_below_zero(http):
    orders = _seed(http, 8, prefix="r")
    assert http.call("POST", "/v1/billing/topups", json={"amount": "0.07"}).status_code == 201
    # four notices, one order each (an SMS of 0.035): only two fit
    ids = [http.call("POST", "/v1/plans", json=_notice([o], action="draft")).json()["plan_id"]
           for o in (orders[0], orders[1], orders[3], orders[4])]
    with ThreadPoolExecutor(max_workers=4) as pool:
        codes = list(pool.map(lambda pid: http.call("POST", f"/v1/plans/{pid}/send").status_code, ids))
    assert sorted(codes) == [200, 200, 402, 402], codes
    billing = _sums_hold(http)
    assert billing["balance"] == "0.000"
    done = http.wait_for(lambda: http.call("GET", "/v1/billing").json()["reserved"] == "0.000",
                         timeout=120)
    assert done
    assert _sums_hold(http)["balance"] == "0.000"
