"""A one-off plan with a holdout over HTTP on the real local stack: the held-out share is
never messaged; orders from recipients and held-out customers give the conversions, the
Newcombe lift and the incremental GMV on the plan's performance (API.md "Holdout")."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from chalicelib.domain.automated import held_out
from chalicelib.domain.lift import newcombe


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _shop(http, count: int) -> list[str]:
    assert http.call("PUT", "/v1/products/rice", json={"name": "Rice", "price": "99.00",
                                                       "currency": "THB"}).status_code == 201
    ids = [f"c{i:02d}" for i in range(count)]
    for cid in ids:
        assert http.call("PUT", f"/v1/customers/{cid}", json={"name": cid}).status_code == 201
    events = [{"event_id": f"{cid}-f", "type": "followed", "customer_id": cid,
               "occurred_at": _iso(datetime.now(UTC) - timedelta(hours=5))} for cid in ids]
    assert http.call("POST", "/v1/events", json={"events": events}).status_code == 202
    return ids


def test_a_plan_with_a_holdout_measures_its_lift(http):
    ids = _shop(http, 24)
    voucher = http.call("POST", "/v1/vouchers", json={
        "name": "15 off", "kind": "regular", "discount": {"type": "amount", "value": "15"}}).json()
    r = http.call("POST", "/v1/plans", json={
        "name": "Rice week", "audience": {"segment_ids": ["new_followers"]},
        "content": {"text": {"en": "Hi {name}"}}, "product_ids": ["rice"],
        "voucher": {"mode": "chosen", "voucher_id": voucher["voucher_id"]},
        "holdout_percent": 50, "action": "send"})
    assert r.status_code == 201, r.text
    plan = r.json()
    pid = plan["plan_id"]
    assert plan["holdout_percent"] == 50
    assert http.wait_for(lambda: http.call("GET", f"/v1/plans/{pid}").json()["status"] == "sent",
                         timeout=120)

    held = [c for c in ids if held_out(pid, c, 50)]
    sent = [c for c in ids if c not in held]
    assert len(held) >= 2 and len(sent) >= 3
    for cid in held:
        assert http.call("GET", f"/v1/customers/{cid}/inbox").json()["items"] == []
    rows = http.call("GET", f"/v1/plans/{pid}/deliveries?status=skipped&limit=100").json()["items"]
    assert sorted(r["customer_id"] for r in rows if r["reason"] == "holdout") == sorted(held)

    now = _iso(datetime.now(UTC))
    orders = [("o1", sent[0], "120.00"), ("o2", sent[0], "30.00"), ("o3", sent[1], "50.00"),
              ("o4", held[0], "40.00")]
    events = [{"event_id": f"e-{o}", "type": "order_paid", "customer_id": c, "order_id": o,
               "amount": amount, "currency": "THB", "occurred_at": now}
              for o, c, amount in orders]
    events.append({**events[0], "event_id": "e-o1-again"})     # the same order, once more
    events.append({"event_id": "e-redeem", "type": "voucher_redeemed", "customer_id": sent[0],
                   "voucher_id": voucher["voucher_id"], "plan_id": pid, "order_id": "o1",
                   "occurred_at": now})
    r = http.call("POST", "/v1/events", json={"events": events})
    assert r.status_code == 202 and not r.json()["rejected"], r.text

    def measured():
        got = http.call("GET", f"/v1/plans/{pid}/performance").json()
        done = got["holdout"]["converted"] == 1 and got["voucher_cost"] == "15.00" \
            and got["recipients_conversion"] == pytest.approx(2 / len(sent))
        return got if done else None

    perf = http.wait_for(measured, timeout=120)
    assert perf, http.call("GET", f"/v1/plans/{pid}/performance").json()
    assert perf["recipients"] == len(sent) and perf["delivered"] == len(sent)
    assert perf["skipped"]["holdout"] == len(held)
    assert perf["holdout"] == {"size": len(held), "converted": 1,
                               "conversion": pytest.approx(1 / len(held))}
    d, lo, hi = newcombe(2, len(sent), 1, len(held))
    assert perf["lift"] == {"absolute": pytest.approx(d), "ci95": pytest.approx([lo, hi]),
                            "method": "newcombe"}
    incremental = Decimal("200") - Decimal("40") * len(sent) / len(held)
    assert perf["incremental_gmv"] == f"{incremental.quantize(Decimal('0.01'))}"
    assert perf["net_incremental_gmv"] == f"{(incremental - 15).quantize(Decimal('0.01'))}"


def test_openapi_documents_the_holdout_figures(http):
    schemas = http.call("GET", "/openapi.json").json()["components"]["schemas"]
    fields = schemas["PlanPerformance"]["properties"]
    for name in ("holdout", "recipients_conversion", "lift", "incremental_gmv",
                 "net_incremental_gmv", "voucher_cost"):
        assert name in fields, name
    assert "holdout_percent" in schemas["Plan"]["properties"]
