"""What the seeds ask of the one-off loop, over HTTP on the real local stack: sub-account
permissions, coupon families, follow-up to non-readers, conversations, best send time, and
a paced plan under duplicate delivery. The paced plan takes a minute by nature (its second
window opens 62 s after the first), so it starts first and is checked last; the other
tests run meanwhile."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import pytest
import requests

from tests.e2e.conftest import Http

RATE = 3


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _shop(http: Http, count: int, prefix: str = "c") -> list[str]:
    assert http.call("PUT", "/v1/products/rice", json={"name": "Rice", "price": "99.00",
                                                       "currency": "THB"}).status_code == 201
    now = datetime.now(UTC)
    ids = [f"{prefix}{i}" for i in range(count)]
    events = []
    for i, cid in enumerate(ids):
        assert http.call("PUT", f"/v1/customers/{cid}", json={"name": f"Buyer {i}"}).status_code == 201
        events.append({"event_id": f"{cid}-f", "type": "followed", "customer_id": cid,
                       "occurred_at": _iso(now - timedelta(days=1))})
    assert http.call("POST", "/v1/events", json={"events": events}).status_code == 202
    return ids


def _send(http: Http, **extra) -> dict:
    r = http.call("POST", "/v1/plans", json={
        "name": "Rice week", "audience": {"segment_ids": ["new_followers"]},
        "content": {"text": {"en": "Hi {name}, rice {voucher}"}}, "product_ids": ["rice"],
        "action": "send", **extra})
    assert r.status_code == 201, r.text
    return r.json()


def _status(http: Http, plan_id: str) -> str:
    return http.call("GET", f"/v1/plans/{plan_id}").json()["status"]


def _inbox(http: Http, cid: str) -> list[dict]:
    return http.call("GET", f"/v1/customers/{cid}/inbox").json()["items"]


def _events(http: Http, events: list[dict]) -> None:
    r = http.call("POST", "/v1/events", json={"events": events})
    assert r.status_code == 202 and not r.json()["rejected"], r.text


@pytest.fixture(scope="module")
def paced(stack):
    """A shop paced at RATE a minute sending a plan to RATE + 2 followers."""
    http = Http(stack["base"], f"e2e-pace-{uuid.uuid4().hex[:6]}")
    assert http.call("PUT", "/v1/settings", json={"send_rate_per_minute": RATE}).status_code == 200
    ids = _shop(http, RATE + 2)
    plan = _send(http)
    return {"http": http, "ids": ids, "plan": plan, "started": time.time(), "moto": stack["moto"]}


def _delivered(http: Http, ids: list[str], plan_id: str) -> int:
    return sum(any(m["plan_id"] == plan_id for m in _inbox(http, cid)) for cid in ids)


def test_a_paced_plan_sends_its_first_minute_then_waits(paced):
    http, ids, plan_id = paced["http"], paced["ids"], paced["plan"]["plan_id"]
    # The rate's window (60 s) starts at the first send, not at the plan's start, so a slow
    # dispatch on a loaded machine only delays it: a deadline for the queues, not the rate.
    assert http.wait_for(lambda: _delivered(http, ids, plan_id) >= RATE, timeout=120)
    paced["first_seen"] = time.time()   # the first window's sends were all there by now
    # duplicate delivery: every generation the chunk may have had, delivered again at once
    from chalicelib.settings import settings

    sqs = __import__("boto3").client("sqs", endpoint_url=paced["moto"], region_name=settings().region,
                                     aws_access_key_id="test", aws_secret_access_key="test")
    url = next(u for u in sqs.list_queues()["QueueUrls"] if u.endswith("delivery"))
    for gen in (0, 1, 2):
        body = f'{{"seller_id": "{http.seller_id}", "plan_id": "{plan_id}", "chunk": 0, "gen": {gen}}}'
        sqs.send_message(QueueUrl=url, MessageBody=body)
        sqs.send_message(QueueUrl=url, MessageBody=body)
    time.sleep(2)      # let the duplicates be handled (they must change nothing)
    assert _delivered(http, ids, plan_id) == RATE
    assert _status(http, plan_id) == "in_progress"


def test_a_sub_account_without_customers_gets_403(stack):
    from chalicelib.api.auth import mint_token

    def get(**claims):
        token = mint_token("e2e-perm", "owner", **claims)
        return requests.get(stack["base"] + "/v1/customers",
                            headers={"Authorization": f"Bearer {token}"}, timeout=30).status_code

    assert (get(), get(permissions=None), get(permissions=["customers"])) == (200, 200, 200)
    assert (get(permissions=[]), get(permissions=["orders"])) == (403, 403)
    assert get(permissions="customers") == 401


def test_family_voucher_follow_up_and_conversation(http):
    ids = _shop(http, 4, prefix="f")
    _events(http, [{"event_id": "f0-order", "type": "order_paid", "customer_id": "f0",
                    "occurred_at": _iso(datetime.now(UTC) - timedelta(days=2)),
                    "order_id": "o-f0", "amount": "30.00", "currency": "THB"}])
    voucher = http.call("POST", "/v1/vouchers", json={
        "name": "Welcome", "kind": "regular", "family": "new_customer",
        "discount": {"type": "percent", "value": 10}}).json()
    plan = _send(http, voucher={"mode": "chosen", "voucher_id": voucher["voucher_id"]})
    assert http.wait_for(lambda: _status(http, plan["plan_id"]) == "sent")
    got = {cid: _inbox(http, cid)[0]["voucher"] for cid in ids}
    assert got["f0"] is None and all(got[c]["voucher_id"] == voucher["voucher_id"] for c in ids[1:])
    assert http.wait_for(lambda: http.call(
        "GET", f"/v1/plans/{plan['plan_id']}/performance").json()["vouchers_withheld"] == 1)

    now = _iso(datetime.now(UTC))
    _events(http, [{"event_id": "f1-read", "type": "message_read", "customer_id": "f1",
                    "occurred_at": now, "plan_id": plan["plan_id"]},
                   {"event_id": "f2-reply", "type": "message_replied", "customer_id": "f2",
                    "occurred_at": now, "plan_id": plan["plan_id"], "text": "Brown rice too?"}])

    def conversation():
        items = http.call("GET", "/v1/conversations").json()["items"]
        return items[0] if items else None

    item = http.wait_for(conversation)
    assert item["customer_id"] == "f2" and item["replies"] == [{"at": now, "text": "Brown rice too?"}]
    assert item["message"]["text"] == _inbox(http, "f2")[0]["text"]

    r = http.call("POST", f"/v1/plans/{plan['plan_id']}/follow-up",
                  json={"send_at": None, "content": {"text": {"en": "Last call, {name}"}}})
    assert r.status_code == 201 and r.json()["follow_up_of"] == plan["plan_id"], r.text
    follow = r.json()["plan_id"]
    assert http.wait_for(lambda: _status(http, follow) == "sent")
    # f2's reply counts as read; f1 read it
    assert {c for c in ids if any(m["plan_id"] == follow for m in _inbox(http, c))} == {"f0", "f3"}


def test_best_send_time_is_scheduled_with_its_reason(http):
    _shop(http, 1, prefix="b")
    plan = _send(http, send_at="best")
    assert plan["status"] == "scheduled"
    assert plan["send_at"].endswith(":00:00Z") and plan["send_at"][11:13] == "20"
    assert any(w.startswith("send_time:") for w in plan["warnings"])


def test_the_paced_plan_finishes_each_message_once_and_no_minute_holds_more_than_the_rate(paced):
    http, ids, plan_id = paced["http"], paced["ids"], paced["plan"]["plan_id"]
    first_minute_end = paced["started"] + 55
    while time.time() < first_minute_end:   # the window is full: nobody else gets one yet
        assert _delivered(http, ids, plan_id) <= RATE
        time.sleep(2)
    # The second window opens 62 s after the first send, which was seen (late, perhaps) at
    # first_seen: the deadline counts from there, with room for the queues.
    finish_by = paced.get("first_seen", time.time()) + 62 + 120
    assert http.wait_for(lambda: _status(http, plan_id) == "sent",
                         timeout=max(0.0, finish_by - time.time()), interval=1)
    for cid in ids:
        assert sum(m["plan_id"] == plan_id for m in _inbox(http, cid)) == 1, cid
    perf = http.call("GET", f"/v1/plans/{plan_id}/performance").json()
    assert (perf["recipients"], perf["delivered"]) == (RATE + 2, RATE + 2)
