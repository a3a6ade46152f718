"""Every route, called with real data on the local stack, answers what the served
/openapi.json says: a status the route lists, its media type and headers, and a body that
matches the status's schema. The fuzz run (test_fuzz.py) mostly meets an empty shop and
4xx answers; this walks the success bodies of full shops — the demo shop for reads, a fresh
one for writes — and fails when a route is added without being walked here."""

from __future__ import annotations

import time
import uuid
from datetime import UTC, datetime, timedelta

import requests
import schemathesis
from schemathesis.core import NOT_SET

from chalicelib.api.auth import mint_token
from chalicelib.services.plans import SUPPORTED_KINDS
from tests.e2e.test_fuzz import CHECKS

# Only automated plans pause and resume, and none can be created yet: those two answer 409.
NO_SUCCESS_YET = set() if "automated" in SUPPORTED_KINDS else {
    ("POST", "/v1/plans/{plan_id}/pause"), ("POST", "/v1/plans/{plan_id}/resume")}


class Walk:
    """Calls operations of the served document as one seller and validates each answer."""

    def __init__(self, base: str, seller_id: str) -> None:
        self.base, self.seller_id = base, seller_id
        self.schema = schemathesis.openapi.from_dict(
            requests.get(base + "/openapi.json", timeout=30).json())
        self.ok: set[tuple[str, str]] = set()   # (METHOD, path template) answered with a 2xx

    def __call__(self, method: str, template: str, *, path: dict | None = None,
                 query: dict | None = None, body=NOT_SET, media_type: str | None = None,
                 headers: dict | None = None, expect: int | None = None):
        case = self.schema[template][method].Case(path_parameters=path, query=query, body=body,
                                                  media_type=media_type)
        token = mint_token(self.seller_id, "owner", sub="walker")
        response = case.call_and_validate(base_url=self.base, checks=CHECKS, timeout=60,
                                          headers={"Authorization": f"Bearer {token}",
                                                   **(headers or {})})
        if expect is not None:
            assert response.status_code == expect, (method, template, response.text[:500])
        if response.status_code < 300:
            self.ok.add((method, template))
        return response.json() if response.content else None


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _reads_of_the_demo_shop(walk: Walk) -> None:
    walk("GET", "/health", expect=200)
    walk("GET", "/openapi.json", expect=200)
    walk("GET", "/v1/local/demo-token", expect=200)     # the stack is the local stage
    customers = walk("GET", "/v1/customers", query={"limit": 50}, expect=200)["items"]
    cid = customers[0]["customer_id"]
    walk("GET", "/v1/customers", query={"segment_id": "loyal", "limit": 5}, expect=200)
    walk("GET", "/v1/customers/{customer_id}", path={"customer_id": cid}, expect=200)
    segments = walk("GET", "/v1/segments", query={"limit": 200}, expect=200)["items"]
    for segment in segments:   # the built-ins and the demo's custom one
        sid = segment["segment_id"]
        walk("GET", "/v1/segments/{segment_id}", path={"segment_id": sid}, expect=200)
        walk("GET", "/v1/segments/{segment_id}/insights", path={"segment_id": sid}, expect=200)
        walk("GET", "/v1/segments/{segment_id}/explain/{customer_id}",
             path={"segment_id": sid, "customer_id": cid}, expect=200)
    walk("GET", "/v1/segments/{segment_id}/members", path={"segment_id": "recent"},
         query={"limit": 20}, expect=200)
    walk("POST", "/v1/segments/preview", body={"rule": {"any": [
        {"attr": "order_count", "op": "gte", "value": 2},
        {"tags": {"any": ["vip"]}}, {"event": "product_viewed", "within_days": 30}]}},
        expect=200)
    plans = walk("GET", "/v1/plans", expect=200)["items"]
    sent = next(p for p in plans if p["status"] == "sent")
    walk("GET", "/v1/plans/{plan_id}", path={"plan_id": sent["plan_id"]}, expect=200)
    walk("GET", "/v1/plans/{plan_id}/performance", path={"plan_id": sent["plan_id"]}, expect=200)
    rows = walk("GET", "/v1/plans/{plan_id}/deliveries", path={"plan_id": sent["plan_id"]},
                query={"limit": 200}, expect=200)["items"]
    for status in ("delivered", "skipped"):
        walk("GET", "/v1/plans/{plan_id}/deliveries", path={"plan_id": sent["plan_id"]},
             query={"status": status}, expect=200)
    reached = next(r["customer_id"] for r in rows if r["status"] == "delivered")
    inbox = walk("GET", "/v1/customers/{customer_id}/inbox", path={"customer_id": reached},
                 expect=200)["items"]
    assert inbox, reached
    walk("GET", "/v1/plans/{plan_id}/history", path={"plan_id": sent["plan_id"]}, expect=200)
    walk("GET", "/v1/templates", expect=200)
    walk("GET", "/v1/templates", query={"locale": "th"}, expect=200)
    tags = walk("GET", "/v1/tags", expect=200)["items"]
    walk("GET", "/v1/tags/{tag_id}", path={"tag_id": tags[0]["tag_id"]}, expect=200)
    walk("GET", "/v1/tags/audit", expect=200)
    walk("GET", "/v1/tags/health", expect=200)
    rules = walk("GET", "/v1/tag-rules", expect=200)["items"]
    for rule in rules:
        walk("GET", "/v1/tag-rules/{rule_id}", path={"rule_id": rule["rule_id"]}, expect=200)
    products = walk("GET", "/v1/products", expect=200)["items"]
    walk("GET", "/v1/products/{product_id}", path={"product_id": products[0]["product_id"]},
         expect=200)
    vouchers = walk("GET", "/v1/vouchers", expect=200)["items"]
    walk("GET", "/v1/vouchers/{voucher_id}", path={"voucher_id": vouchers[0]["voucher_id"]},
         expect=200)
    walk("GET", "/v1/settings", expect=200)
    walk("GET", "/v1/conversations", expect=200)
    walk("GET", "/v1/overview", expect=200)
    walk("GET", "/v1/overview", query={"days": 365}, expect=200)
    walk("GET", "/v1/segments/{segment_id}/performance", path={"segment_id": "new_followers"},
         query={"days": 90}, expect=200)


def _writes_in_a_new_shop(walk: Walk) -> None:
    walk("GET", "/v1/settings", expect=200)   # defaults, never set
    walk("PUT", "/v1/settings", body={"shop_name": "Walk", "timezone": "Asia/Bangkok",
                                      "default_region": "TH", "quiet_hours": None,
                                      "frequency_cap": {"max_messages": 5, "per_days": 7}},
         expect=200)
    walk("PUT", "/v1/customers/{customer_id}", path={"customer_id": "w1"},
         body={"name": "Ploy", "phone": "0812345678", "age": 31, "gender": "female",
               "language": "th"}, expect=201)
    walk("PUT", "/v1/customers/{customer_id}", path={"customer_id": "w1"},
         body={"region": "Bangkok"}, expect=200)
    now = datetime.now(UTC)
    walk("POST", "/v1/events", body={"events": [
        {"event_id": "w-f", "type": "followed", "customer_id": "w1",
         "occurred_at": _iso(now - timedelta(days=2))},
        {"event_id": "w-o", "type": "order_paid", "customer_id": "w1", "order_id": "o1",
         "amount": "120.50", "currency": "THB", "product_ids": ["rice"],
         "occurred_at": _iso(now - timedelta(days=1))},
        {"event_id": "w-bad", "type": "order_paid", "customer_id": "w1",
         "occurred_at": _iso(now)}]}, expect=202)
    walk("PUT", "/v1/products/{product_id}", path={"product_id": "rice"},
         body={"name": "Rice", "price": "99.90", "currency": "THB", "stock": 3}, expect=201)
    walk("PUT", "/v1/products/{product_id}", path={"product_id": "rice"},
         body={"name": "Rice", "price": "89.90", "currency": "THB",
               "image_url": "https://example.com/rice.png"}, expect=200)
    voucher = walk("POST", "/v1/vouchers", body={
        "name": "10% off", "kind": "regular", "discount": {"type": "percent", "value": 10},
        "min_spend": "100", "valid_until": _iso(now + timedelta(days=30))}, expect=201)
    walk("POST", "/v1/vouchers", body={
        "name": "Private", "kind": "private", "discount": {"type": "amount", "value": "20.00"},
        "quantity": 100}, expect=201)
    tag = walk("POST", "/v1/tags", body={"name": "VIP", "dimension": "spending_power"},
               expect=201)
    walk("PATCH", "/v1/tags/{tag_id}", path={"tag_id": tag["tag_id"]},
         body={"description": "big spenders"}, expect=200)
    walk("POST", "/v1/customers/{customer_id}/tags", path={"customer_id": "w1"},
         body={"add": ["VIP"], "reason": "walk"}, expect=200)
    walk("POST", "/v1/tags/bulk", body={"filter": {"attr": "order_count", "op": "gte",
                                                   "value": 1}, "add": ["VIP"]}, expect=200)
    walk("POST", "/v1/tag-rules", body={
        "name": "buyers are VIP", "trigger": {"event": "order_paid"},
        "condition": {"attr": "order_count", "op": "gte", "value": 1}, "add": ["VIP"]},
        expect=201)
    walk("POST", "/v1/tag-rules", body={"name": "daily", "trigger": {"daily": True},
                                        "remove": ["VIP"]}, expect=201)
    walk("POST", "/v1/tag-rules/run", expect=200)
    segment = walk("POST", "/v1/segments", body={"name": "VIP buyers", "rule": {"all": [
        {"tags": {"any": ["VIP"]}}, {"segment": "recent"}]}}, expect=201)
    walk("PATCH", "/v1/segments/{segment_id}", path={"segment_id": segment["segment_id"]},
         body={"name": "VIP recent buyers"}, expect=200)
    walk("GET", "/v1/segments/{segment_id}/explain/{customer_id}",
         path={"segment_id": segment["segment_id"], "customer_id": "w1"}, expect=200)
    report = walk("POST", "/v1/imports", query={"default_region": "TH"},
                  body="phone,tags,name\n0812345678,VIP,Ploy\n0899999999,unknown,Nok\n"
                       "0899999999,,Nok again\nnot-a-phone,,\n",
                  media_type="text/csv", expect=201)
    walk("GET", "/v1/imports/{import_id}", path={"import_id": report["import_id"]}, expect=200)
    plan = walk("POST", "/v1/plans", body={
        "name": "Walk plan", "audience": {"segment_ids": ["recent"],
                                          "tags": {"any": ["VIP"]}},
        "content": {"text": {"en": "Hi {name}", "th": "สวัสดี {name}"}},
        "voucher": {"mode": "chosen", "voucher_id": voucher["voucher_id"]},
        "product_ids": ["rice"], "button": {"type": "product_list"}}, expect=201)
    pid = plan["plan_id"]
    walk("PATCH", "/v1/plans/{plan_id}", path={"plan_id": pid},
         body={"content": {"template_id": "best_sellers"}}, expect=200)
    walk("POST", "/v1/plans/{plan_id}/test-send", path={"plan_id": pid},
         body={"customer_id": "w1"}, expect=200)
    walk("GET", "/v1/plans/{plan_id}/history", path={"plan_id": pid}, expect=200)
    walk("POST", "/v1/plans/{plan_id}/pause", path={"plan_id": pid}, expect=409)
    walk("POST", "/v1/plans/{plan_id}/resume", path={"plan_id": pid}, expect=409)
    walk("POST", "/v1/plans/{plan_id}/send", path={"plan_id": pid}, expect=200)
    walk("GET", "/v1/plans", query={"kind": "one_off", "status": "in_progress"}, expect=200)
    deadline = time.time() + 120          # sent behind the queues: then it can be followed up
    while walk("GET", "/v1/plans/{plan_id}", path={"plan_id": pid},
               expect=200)["status"] != "sent":
        assert time.time() < deadline, "the walk plan never finished sending"
        time.sleep(0.3)
    walk("POST", "/v1/plans/{plan_id}/follow-up", path={"plan_id": pid},
         body={"action": "draft", "after_days": 2}, expect=201)
    walk("GET", "/v1/conversations", query={"limit": 5}, expect=200)
    later = walk("POST", "/v1/plans", body={
        "name": "Later", "audience": {"segment_ids": ["recent"]},
        "content": {"template_id": "best_sellers"}, "product_ids": ["rice"],
        "send_at": _iso(now + timedelta(days=2)), "action": "send"}, expect=201)
    walk("POST", "/v1/plans/{plan_id}/cancel", path={"plan_id": later["plan_id"]}, expect=200)
    walk("DELETE", "/v1/plans/{plan_id}", path={"plan_id": later["plan_id"]}, expect=204)
    auto = walk("POST", "/v1/plans", body={
        "name": "Walk automated", "kind": "automated", "trigger": {"type": "abandoned_cart"},
        "content": {"template_id": "cart_recovery"}, "voucher": {"mode": "smart"},
        "window": {"end": _iso(now + timedelta(days=30))}, "action": "send"}, expect=201)
    walk("POST", "/v1/plans/{plan_id}/pause", path={"plan_id": auto["plan_id"]}, expect=200)
    walk("POST", "/v1/plans/{plan_id}/resume", path={"plan_id": auto["plan_id"]}, expect=200)
    walk("GET", "/v1/plans/{plan_id}/performance", path={"plan_id": auto["plan_id"]},
         expect=200)
    walk("GET", "/v1/plans/{plan_id}/deliveries", path={"plan_id": auto["plan_id"]},
         expect=200)
    walk("POST", "/v1/plans/{plan_id}/cancel", path={"plan_id": auto["plan_id"]}, expect=200)
    walk("DELETE", "/v1/segments/{segment_id}", path={"segment_id": segment["segment_id"]},
         expect=204)
    rules = walk("GET", "/v1/tag-rules", expect=200)["items"]
    walk("DELETE", "/v1/tag-rules/{rule_id}", path={"rule_id": rules[0]["rule_id"]},
         expect=204)
    walk("DELETE", "/v1/tags/{tag_id}", path={"tag_id": tag["tag_id"]}, expect=204)
    walk("GET", "/v1/tags/audit", expect=200)
    _ab_test_and_export(walk, now)
    _billing_and_notices(walk)


def _ab_test_and_export(walk: Walk, now: datetime) -> None:
    """An A/B plan decided by hand, and an audience export, in the same shop (w1 follows)."""
    for cid in ("w2", "w3"):
        walk("PUT", "/v1/customers/{customer_id}", path={"customer_id": cid},
             body={"name": cid, "phone": f"08123456{cid[1]}0", "language": "en"}, expect=201)
    walk("POST", "/v1/events", body={"events": [
        {"event_id": f"w-f-{cid}", "type": "followed", "customer_id": cid,
         "occurred_at": _iso(now - timedelta(days=1))} for cid in ("w2", "w3")]}, expect=202)
    export = walk("POST", "/v1/segments/{segment_id}/exports",
                  path={"segment_id": "new_followers"}, body={"format": "hashed_phone"},
                  expect=201)
    deadline = time.time() + 120
    while walk("GET", "/v1/exports/{export_id}", path={"export_id": export["export_id"]},
               expect=200)["status"] != "ready":
        assert time.time() < deadline, "the export never became ready"
        time.sleep(0.3)
    ab = walk("POST", "/v1/plans", body={
        "name": "Walk A/B", "audience": {"segment_ids": ["new_followers"]},
        "variants": [{"variant_id": "a", "content": {"text": {"en": "A {name}"}}},
                     {"variant_id": "b", "content": {"text": {"en": "B {name}"}}}],
        "product_ids": ["rice"],
        "ab_test": {"sample_percent": 50, "metric": "click", "wait_minutes": 4320},
        "action": "send"}, expect=201)
    deadline = time.time() + 120          # 409 until the sample has gone out
    while walk("POST", "/v1/plans/{plan_id}/winner", path={"plan_id": ab["plan_id"]},
               body={"variant_id": "b"}).get("ab_test", {}).get("status") != "decided":
        assert time.time() < deadline, "the A/B plan's sample never went out"
        time.sleep(0.3)


def _billing_and_notices(walk: Walk) -> None:
    """Billing and an order notice in the same shop (w1 paid order o1 above)."""
    walk("GET", "/v1/billing", expect=200)
    walk("POST", "/v1/billing/topups", body={"amount": "5"}, expect=201)
    notice = walk("POST", "/v1/plans", body={
        "name": "Late rice", "kind": "order_notice", "scenario": "out_of_stock",
        "channels": ["chat", "sms"], "orders": [{"order_id": "o1", "product_name": "Rice",
                                                 "solution": "a refund"}]}, expect=201)
    walk("POST", "/v1/plans/{plan_id}/orders", path={"plan_id": notice["plan_id"]},
         body="order_id,product_name,solution\no1,Rice,a swap\nnope,Tea,x\n",
         media_type="text/csv", expect=200)
    walk("POST", "/v1/plans/{plan_id}/test-send", path={"plan_id": notice["plan_id"]},
         body={"customer_id": "w1"}, expect=200)
    walk("GET", "/v1/plans/{plan_id}", path={"plan_id": notice["plan_id"]}, expect=200)
    walk("POST", "/v1/plans/{plan_id}/send", path={"plan_id": notice["plan_id"]}, expect=200)
    walk("GET", "/v1/billing/ledger", query={"limit": 2}, expect=200)
    walk("GET", "/v1/plans/{plan_id}/deliveries", path={"plan_id": notice["plan_id"]}, expect=200)
    walk("GET", "/v1/customers/{customer_id}/inbox", path={"customer_id": "w1"}, expect=200)


def test_every_route_answers_a_full_shop_with_what_the_document_says(stack):
    walk = Walk(stack["base"], "demo")
    _reads_of_the_demo_shop(walk)
    writes = Walk(stack["base"], f"walk-{uuid.uuid4().hex[:8]}")
    _writes_in_a_new_shop(writes)
    walked = walk.ok | writes.ok
    every = {(method.upper(), path) for path, item in walk.schema.raw_schema["paths"].items()
             for method in item}
    assert every - walked - NO_SUCCESS_YET == set(), "routes this walk does not call with success"
