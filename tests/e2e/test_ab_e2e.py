"""A/B tests over HTTP on the real local stack: the sample sent at once through the pollers,
the decision by POST /winner (by the metric) or by itself with ``wait_minutes`` 0, the
rest getting the winner's text, deliveries' variants, rates, p-value and by_variant."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.experiments import p_value

TEXTS = {"a": "A: hello {name}", "b": "B: {name}, a gift inside", "c": "C: {name}, last chance"}


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _shop(http, count: int) -> list[str]:
    assert http.call("PUT", "/v1/products/mango", json={"name": "Mango", "price": "60.00",
                                                        "currency": "THB"}).status_code == 201
    ids = [f"m{i:02d}" for i in range(count)]
    events = []
    for i, cid in enumerate(ids):
        assert http.call("PUT", f"/v1/customers/{cid}", json={"name": f"Fan {i}"}).status_code == 201
        events.append({"event_id": f"{cid}-f", "type": "followed", "customer_id": cid,
                       "occurred_at": _iso(datetime.now(UTC) - timedelta(days=1))})
    assert http.call("POST", "/v1/events", json={"events": events}).status_code == 202
    return ids


def _plan(http, variant_ids, **ab_test) -> dict:
    r = http.call("POST", "/v1/plans", json={
        "name": "Which text", "kind": "one_off", "audience": {"segment_ids": ["new_followers"]},
        "product_ids": ["mango"], "action": "send",
        "variants": [{"variant_id": v, "content": {"text": {"en": TEXTS[v]}}} for v in variant_ids],
        "ab_test": ab_test})
    assert r.status_code == 201, r.text
    return r.json()


def _get(http, path: str) -> dict:
    return http.call("GET", path).json()


def _rows(http, plan_id: str) -> list[dict]:
    return _get(http, f"/v1/plans/{plan_id}/deliveries?limit=200")["items"]


def _inbox(http, cid: str) -> list[dict]:
    return _get(http, f"/v1/customers/{cid}/inbox")["items"]


def test_an_ab_plan_decided_by_post_winner_sends_the_winner_to_the_rest(http):
    ids = _shop(http, 20)
    plan = _plan(http, ("a", "b"), sample_percent=40, metric="click", wait_minutes=60)
    plan_id = plan["plan_id"]
    assert plan["ab_test"]["status"] == "testing" and plan["status"] == "in_progress"

    sample = http.wait_for(lambda: (rows := _rows(http, plan_id)) and len(rows) == 8
                           and all(r["status"] == "delivered" for r in rows) and rows, timeout=120)
    assert sample, _rows(http, plan_id)
    groups: dict[str, list[str]] = {}
    for row in sample:
        groups.setdefault(row["variant"], []).append(row["customer_id"])
        (message,) = _inbox(http, row["customer_id"])
        assert message["text"] == TEXTS[row["variant"]].format(name=f"Fan {int(row['customer_id'][1:])}")
    assert {v: len(c) for v, c in groups.items()} == {"a": 4, "b": 4}
    assert _get(http, f"/v1/plans/{plan_id}")["status"] == "in_progress"

    now = datetime.now(UTC)
    clicks = [{"event_id": f"{c}-click", "type": "message_clicked", "customer_id": c,
               "occurred_at": _iso(now), "plan_id": plan_id}
              for c in groups["a"][:1] + groups["b"][:3]]
    assert http.call("POST", "/v1/events", json={"events": clicks}).status_code == 202
    counted = http.wait_for(lambda: _get(http, f"/v1/plans/{plan_id}/performance")["clicked"] == 4,
                            timeout=120)
    assert counted

    r = http.as_role("operator").call("POST", f"/v1/plans/{plan_id}/winner", json={})
    assert r.status_code == 200, r.text
    decision = r.json()["ab_test"]
    assert decision["status"] == "decided" and decision["winner"] == "b"
    assert decision["rates"] == {"a": 0.25, "b": 0.75}
    assert decision["p_value"] == pytest.approx(p_value([(1, 4), (3, 4)]))
    assert http.call("POST", f"/v1/plans/{plan_id}/winner", json={"variant_id": "a"}).status_code == 409

    sent = http.wait_for(lambda: _get(http, f"/v1/plans/{plan_id}")["status"] == "sent", timeout=120)
    assert sent, _get(http, f"/v1/plans/{plan_id}")
    rows = _rows(http, plan_id)
    assert len(rows) == 20 and Counter(r["variant"] for r in rows) == {"a": 4, "b": 16}
    for cid in ids:
        (message,) = _inbox(http, cid)
        expected = "a" if cid in groups["a"] else "b"
        assert message["text"] == TEXTS[expected].format(name=f"Fan {int(cid[1:])}")
    perf = _get(http, f"/v1/plans/{plan_id}/performance")
    assert perf["by_variant"] == {
        "a": {"recipients": 4, "delivered": 4, "read": 0, "clicked": 1, "replied": 0,
              "orders": 0, "gmv": "0.00"},
        "b": {"recipients": 16, "delivered": 16, "read": 0, "clicked": 3, "replied": 0,
              "orders": 0, "gmv": "0.00"}}
    assert _get(http, f"/v1/plans/{plan_id}")["ab_test"]["rates"] == {"a": 0.25, "b": 0.75}


def test_wait_minutes_zero_decides_by_itself_once_the_sample_is_out(http):
    ids = _shop(http, 9)
    plan_id = _plan(http, ("a", "b", "c"), sample_percent=34, metric="read",
                    wait_minutes=0)["plan_id"]
    sent = http.wait_for(lambda: _get(http, f"/v1/plans/{plan_id}")["status"] == "sent", timeout=120)
    got = _get(http, f"/v1/plans/{plan_id}")
    assert sent, got
    assert got["ab_test"]["status"] == "decided" and got["ab_test"]["decided_by"] == "timer"
    assert got["ab_test"]["winner"] == "a" and got["ab_test"]["p_value"] is None   # no reads yet
    rows = _rows(http, plan_id)
    assert Counter(r["variant"] for r in rows) == {"a": 7, "b": 1, "c": 1}
    assert all(len(_inbox(http, cid)) == 1 for cid in ids)
