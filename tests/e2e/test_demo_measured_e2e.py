"""The demo shop's measured plans (chalicelib/local/demo_measured.py) over HTTP on the local
stack: an A/B test decided with a winner and its rest sent, and a plan with a holdout whose
lift has real figures; loading them a second time changes nothing."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys

from tests.e2e.conftest import ROOT

AB, HOLDOUT = "demo-plan-ab-texts", "demo-plan-holdout"


def _perf(demo, plan_id: str) -> dict:
    return demo.call("GET", f"/v1/plans/{plan_id}/performance").json()


def _ab_settled(demo):
    perf = _perf(demo, AB)
    variants = perf.get("by_variant") or {}
    return perf if set(variants) == {"a", "b"} and perf["orders"] > 0 and all(
        v["clicked"] > 0 for v in variants.values()) else None


def _holdout_settled(demo):
    perf = _perf(demo, HOLDOUT)
    holdout = perf.get("holdout") or {}
    return perf if holdout.get("converted") and perf.get("incremental_gmv") not in (None, "0.00") \
        else None


def _deliveries(demo, plan_id: str) -> list[dict]:
    items, cursor = [], None
    while True:
        got = demo.call("GET", f"/v1/plans/{plan_id}/deliveries?limit=200"
                        + (f"&cursor={cursor}" if cursor else "")).json()
        items += got["items"]
        cursor = got["next_cursor"]
        if not cursor:
            return items


def test_demo_shop_has_an_ab_plan_decided_with_its_rest_sent(demo):
    plan = demo.call("GET", f"/v1/plans/{AB}").json()
    assert plan["status"] == "sent", plan
    decision = plan["ab_test"]
    assert decision["status"] == "decided" and decision["winner"] == "b", decision
    assert decision["decided_by"] == "operator" and decision["metric"] == "click"
    assert decision["rates"]["b"] > decision["rates"]["a"] > 0
    assert 0 < decision["p_value"] < 1
    perf = demo.wait_for(lambda: _ab_settled(demo), timeout=120)
    assert perf, _perf(demo, AB)
    a, b = perf["by_variant"]["a"], perf["by_variant"]["b"]
    assert b["recipients"] > a["recipients"] > 0           # the winner's rest went to b
    assert a["delivered"] + b["delivered"] == perf["delivered"]
    assert perf["gmv"] != "0.00"
    rows = _deliveries(demo, AB)
    assert {r.get("variant") for r in rows if r["status"] == "delivered"} == {"a", "b"}


def test_demo_shop_has_a_plan_with_a_holdout_and_its_lift(demo):
    plan = demo.call("GET", f"/v1/plans/{HOLDOUT}").json()
    assert plan["status"] == "sent" and plan["holdout_percent"] == 20, plan
    perf = demo.wait_for(lambda: _holdout_settled(demo), timeout=120)
    assert perf, _perf(demo, HOLDOUT)
    holdout = perf["holdout"]
    assert holdout["size"] > 0 and perf["skipped"]["holdout"] == holdout["size"]
    assert 0 < holdout["conversion"] < perf["recipients_conversion"] < 1
    lift = perf["lift"]
    assert lift["method"] == "newcombe" and lift["absolute"] > 0
    low, high = lift["ci95"]
    assert -1 <= low < lift["absolute"] < high <= 1
    assert perf["incremental_gmv"] not in (None, "0.00")


def test_loading_the_measured_plans_twice_changes_nothing(stack, demo):
    assert demo.wait_for(lambda: _ab_settled(demo) and _holdout_settled(demo), timeout=120)
    before = {p: (_perf(demo, p), _deliveries(demo, p), demo.call("GET", f"/v1/plans/{p}").json())
              for p in (AB, HOLDOUT)}
    moto_url = re.search(r"moto server\s+(\S+)", stack["banner"]).group(1)
    env = {**os.environ, "CRM_STAGE": "local"}
    env.pop("AWS_ENDPOINT_URL", None)
    script = ("import json, sys; from datetime import UTC, datetime; "
              "from chalicelib.local.moto_env import point_at_moto; point_at_moto(sys.argv[1]); "
              "from chalicelib.local import demo_measured; "
              "print(json.dumps(demo_measured.load('demo', datetime.now(UTC))))")
    done = subprocess.run([sys.executable, "-c", script, moto_url], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stderr[-2000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["ab_engagement_events"] == summary["holdout_engagement_events"] == 0, summary
    after = {p: (_perf(demo, p), _deliveries(demo, p), demo.call("GET", f"/v1/plans/{p}").json())
             for p in (AB, HOLDOUT)}
    assert after == before
