"""GET /v1/tags/health and record_usage (the plans' hook) against moto."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest


@pytest.fixture
def api(audience_api):
    """Every test here runs over both audience sources (conftest ``audience_api``)."""
    return audience_api


def ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def viewed(cid: str, days: float) -> dict:
    return {"event_id": f"{cid}-v", "type": "product_viewed", "customer_id": cid,
            "occurred_at": ago(days), "product_id": "p1"}


def test_health_reports_silent_oversized_stale_near_duplicates_and_guidance(api):
    for name in ("vip", "VIP-members", "high_value", "High Value!", "unused"):
        assert api.post("/v1/tags", {"name": name, "dimension": "custom"}).status_code == 201
    # 10 customers: 5 with vip (50% -> oversized), 2 of them idle for 200 days (stale)
    events = [viewed(f"c{i}", 200 if i < 2 else 3) for i in range(10)]
    assert api.post("/v1/events", {"events": events}).json["accepted"] == 10
    for i in range(5):
        api.post(f"/v1/customers/c{i}/tags", {"add": ["vip"]})
    api.post("/v1/customers/c9/tags", {"add": ["high_value"]})

    report = api.as_role("viewer").get("/v1/tags/health").json
    assert report["tag_count"] == 5 and report["customers"] == 10
    assert report["guidance"]["level"] == "few"
    assert report["oversized"] == [{"tag": "vip", "share": 0.5, "customers": 5}]
    assert report["stale"] == [{"tag": "vip", "customers": 2}]
    assert sorted(s["tag"] for s in report["silent"]) == ["high_value", "vip"]
    assert [set(pair) for pair in report["near_duplicates"]] == [{"high_value", "High Value!"}]


def test_a_tag_used_by_a_plan_is_not_silent_for_30_days(api):
    from chalicelib.services import tags

    api.post("/v1/tags", {"name": "vip", "dimension": "custom"})
    api.post("/v1/tags", {"name": "gold", "dimension": "custom"})
    api.put("/v1/customers/c1", {"name": "A"})
    api.post("/v1/customers/c1/tags", {"add": ["vip", "gold"]})
    now = datetime.now(UTC)
    tags.record_usage(api.seller_id, ["VIP ", "no-such-tag"], now - timedelta(days=29))
    tags.record_usage(api.seller_id, ["gold"], now - timedelta(days=31))
    silent = api.get("/v1/tags/health").json["silent"]
    assert [s["tag"] for s in silent] == ["gold"]
    assert silent[0]["last_used_at"].endswith("Z")
    # usage only moves forward: an older report does not make vip silent again
    tags.record_usage(api.seller_id, ["vip"], now - timedelta(days=90))
    assert [s["tag"] for s in api.get("/v1/tags/health").json["silent"]] == ["gold"]


def test_health_of_an_empty_shop(api):
    report = api.get("/v1/tags/health").json
    assert (report["tag_count"], report["silent"], report["oversized"], report["stale"],
            report["near_duplicates"]) == (0, [], [], [], [])
