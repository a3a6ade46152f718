"""Tags on the real local stack over HTTP: rules behind the events queue, CSV upload, the
daily rules on demand, and the demo shop's tags."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def tags_of(http, cid):
    return http.call("GET", f"/v1/customers/{cid}").json()["tags"]


def test_a_paid_order_retags_the_customer_within_seconds(http):
    for name in ("purchased", "abandoned_cart", "high_value"):
        assert http.call("POST", "/v1/tags", json={"name": name, "dimension": "purchase_stage"}
                         ).status_code == 201
    assert http.call("POST", "/v1/tag-rules", json={
        "name": "bought", "trigger": {"event": "order_paid"}, "add": ["purchased"],
        "remove": ["abandoned_cart"]}).status_code == 201
    rule = http.call("POST", "/v1/tag-rules", json={
        "name": "3+", "trigger": {"event": "order_paid"}, "add": ["high_value"],
        "condition": {"attr": "order_count", "op": "gte", "value": 3}}).json()
    http.call("PUT", "/v1/customers/c1", json={"name": "Malee"})
    http.call("POST", "/v1/customers/c1/tags", json={"add": ["abandoned_cart"]})
    orders = [{"event_id": f"o{i}", "type": "order_paid", "customer_id": "c1",
               "occurred_at": ago(i), "order_id": f"o{i}", "amount": "20.00", "currency": "THB"}
              for i in range(3)]
    assert http.call("POST", "/v1/events", json={"events": orders}).status_code == 202
    assert http.wait_for(lambda: tags_of(http, "c1") == ["high_value", "purchased"], 120)
    actors = {e["actor"] for e in http.call("GET", "/v1/tags/audit").json()["items"]}
    assert f"rule:{rule['rule_id']}" in actors


def test_csv_upload_and_report(http):
    http.call("POST", "/v1/tags", json={"name": "vip", "dimension": "spending_power"})
    csv = 'phone,tags,name\n"081-234-5678","vip, ghost",Malee\n+66812345678,vip,Dup\nbad,,\n'
    r = http.call("POST", "/v1/imports?default_region=TH", data=csv.encode(),
                  headers={"Content-Type": "text/csv"})
    assert r.status_code == 201, r.text
    report = r.json()
    assert (report["rows"], report["imported"], report["failed"], report["duplicates"]) == (
        3, 1, 1, 1)
    assert report["tags_ignored"] == [{"row": 1, "tag": "ghost"}]
    assert http.call("GET", f"/v1/imports/{report['import_id']}").json() == report
    assert tags_of(http, "phone:+66812345678") == ["vip"]
    r = http.call("POST", "/v1/imports", data=b"\xff\xfe\x00x", headers={"Content-Type": "text/csv"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error"


def test_daily_rules_run_on_demand(http):
    http.call("POST", "/v1/tags", json={"name": "new_customer", "dimension": "purchase_stage"})
    http.call("POST", "/v1/tag-rules", json={
        "name": "expiry", "trigger": {"daily": True}, "remove": ["new_customer"],
        "condition": {"attr": "first_order_at", "op": "lte", "value": {"days_ago": 60}}})
    http.call("POST", "/v1/events", json={"events": [{
        "event_id": "old", "type": "order_paid", "customer_id": "c9", "occurred_at": ago(80),
        "order_id": "old", "amount": "5.00", "currency": "THB"}]})
    http.call("POST", "/v1/customers/c9/tags", json={"add": ["new_customer"]})
    r = http.call("POST", "/v1/tag-rules/run")
    assert r.status_code == 200 and r.json()["updated"] == 1
    assert tags_of(http, "c9") == []


def test_the_demo_shop_has_tags_rules_and_a_health_report(demo):
    names = {t["name"] for t in demo.call("GET", "/v1/tags?limit=200").json()["items"]}
    assert {"vip", "high_value", "abandoned_cart", "purchased", "new_customer"} <= names
    rules = demo.call("GET", "/v1/tag-rules").json()["items"]
    assert {r["rule_id"] for r in rules} >= {"demo-rule-high-value", "demo-rule-purchased",
                                             "demo-rule-churn", "demo-rule-new-customer"}
    tagged = demo.call("GET", "/v1/customers?tag=vip&limit=5").json()["items"]
    assert tagged and all("vip" in c["tags"] for c in tagged)
    health = demo.call("GET", "/v1/tags/health").json()
    assert health["tag_count"] >= 5 and health["customers"] >= 300


def test_the_daily_job_runs_on_demand_from_the_command_line(http, stack):
    import os
    import re
    import subprocess
    import sys

    from tests.e2e.conftest import ROOT

    http.call("POST", "/v1/tags", json={"name": "new_customer", "dimension": "purchase_stage"})
    http.call("POST", "/v1/tag-rules", json={
        "name": "expiry", "trigger": {"daily": True}, "remove": ["new_customer"],
        "condition": {"attr": "first_order_at", "op": "lte", "value": {"days_ago": 60}}})
    http.call("POST", "/v1/events", json={"events": [{
        "event_id": "old", "type": "order_paid", "customer_id": "c7", "occurred_at": ago(90),
        "order_id": "old", "amount": "5.00", "currency": "THB"}]})
    http.call("POST", "/v1/customers/c7/tags", json={"add": ["new_customer"]})
    moto_url = re.search(r"moto server\s+(\S+)", stack["banner"]).group(1)
    env = {**os.environ, "CRM_STAGE": "local"}
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run([sys.executable, "-m", "chalicelib.local.jobs", "daily-tag-rules",
                           "--endpoint", moto_url, "--seller", http.seller_id], cwd=ROOT,
                          env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert '"updated": 1' in done.stdout
    assert tags_of(http, "c7") == []
