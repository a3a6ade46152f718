"""Delivery over HTTP on the real local stack: a plan scheduled a few seconds ahead is fired
by the scheduler emulator, delivered by the pollers, and its performance moves with the
engagement events that follow; the demo shop has a sent plan with performance."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _perf(http, plan_id: str) -> dict:
    return http.call("GET", f"/v1/plans/{plan_id}/performance").json()


def test_scheduled_plan_is_delivered_and_its_performance_follows_engagement(http):
    assert http.call("PUT", "/v1/products/tea", json={"name": "Green Tea", "price": "45.00",
                                                      "currency": "THB"}).status_code == 201
    now = datetime.now(UTC)
    ids = [f"d{i}" for i in range(6)]
    events = []
    for i, cid in enumerate(ids):
        assert http.call("PUT", f"/v1/customers/{cid}", json={"name": f"Tea fan {i}"}).status_code == 201
        events.append({"event_id": f"{cid}-f", "type": "followed", "customer_id": cid,
                       "occurred_at": _iso(now - timedelta(days=1))})
    events.append({"event_id": "d5-block", "type": "blocked", "customer_id": "d5",
                   "occurred_at": _iso(now - timedelta(hours=1))})
    assert http.call("POST", "/v1/events", json={"events": events}).status_code == 202

    r = http.call("POST", "/v1/plans", json={
        "name": "Tea time", "audience": {"segment_ids": ["new_followers"]},
        "content": {"text": {"en": "Hi {name}, {product} is back"}}, "product_ids": ["tea"],
        "send_at": _iso(datetime.now(UTC) + timedelta(seconds=3)), "action": "send"})
    assert r.status_code == 201 and r.json()["status"] == "scheduled", r.text
    plan_id = r.json()["plan_id"]

    sent = http.wait_for(lambda: http.call("GET", f"/v1/plans/{plan_id}").json()["status"] == "sent",
                         timeout=120)
    assert sent
    for cid in ids:
        inbox = http.call("GET", f"/v1/customers/{cid}/inbox").json()["items"]
        assert len(inbox) == (0 if cid == "d5" else 1), cid
    first = http.call("GET", "/v1/customers/d0/inbox").json()["items"][0]
    assert first["text"] == "Hi Tea fan 0, Green Tea is back" and first["test"] is False

    later = datetime.now(UTC)
    engagement = [{"event_id": f"{c}-read", "type": "message_read", "customer_id": c,
                   "occurred_at": _iso(later), "plan_id": plan_id} for c in ids[:4]]
    engagement += [{"event_id": "d0-read-again", "type": "message_read", "customer_id": "d0",
                    "occurred_at": _iso(later), "plan_id": plan_id},
                   {"event_id": "d1-click", "type": "message_clicked", "customer_id": "d1",
                    "occurred_at": _iso(later), "plan_id": plan_id},
                   {"event_id": "d1-order", "type": "order_paid", "customer_id": "d1",
                    "occurred_at": _iso(later + timedelta(seconds=1)), "order_id": "tea-1",
                    "amount": "90.00", "currency": "THB"}]
    assert http.call("POST", "/v1/events", json={"events": engagement}).status_code == 202

    def settled():
        perf = _perf(http, plan_id)
        return perf if perf["read"] == 4 and perf["orders"] == 1 else None

    perf = http.wait_for(settled, timeout=120)
    assert perf, _perf(http, plan_id)
    assert (perf["recipients"], perf["delivered"], perf["skipped"]["blocked"]) == (6, 5, 1)
    assert (perf["clicked"], perf["gmv"]) == (1, "90.00")
    rows = http.call("GET", f"/v1/plans/{plan_id}/deliveries").json()["items"]
    assert sorted(r["customer_id"] for r in rows) == ids


def test_demo_shop_has_a_sent_plan_with_performance(demo):
    plan = demo.call("GET", "/v1/plans/demo-plan-thanks").json()
    assert plan["status"] == "sent"

    def figures():
        perf = demo.call("GET", "/v1/plans/demo-plan-thanks/performance").json()
        return perf if perf["read"] and perf["orders"] else None

    perf = demo.wait_for(figures, timeout=120)
    assert perf, demo.call("GET", "/v1/plans/demo-plan-thanks/performance").json()
    assert perf["delivered"] > 0 and perf["clicked"] > 0 and perf["gmv"] != "0.00"
    assert perf["recipients"] == perf["delivered"] + perf["failed"] + sum(perf["skipped"].values())


def test_the_stuck_plan_sweep_runs_on_demand_from_the_command_line(stack):
    """`python -m chalicelib.local.jobs sweep-stuck-plans` (docs/operations.md) sweeps the
    running stack and reports what it found, by outcome."""
    import json
    import os
    import re
    import subprocess
    import sys

    from tests.e2e.conftest import ROOT

    moto_url = re.search(r"moto server\s+(\S+)", stack["banner"]).group(1)
    env = {**os.environ, "CRM_STAGE": "local"}
    env.pop("AWS_ENDPOINT_URL", None)
    done = subprocess.run([sys.executable, "-m", "chalicelib.local.jobs", "sweep-stuck-plans",
                           "--endpoint", moto_url], cwd=ROOT, env=env, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(report) >= {"resumed", "in_flight"}
