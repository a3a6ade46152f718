"""``send_at: "best"`` over the API: the shop's own reads decide, in its time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from tests.integration.delivery_support import create_plan, iso, seed_followers

ZONE = "Asia/Bangkok"


def _reads_at_local_hour(api, ids, hour: int, per_customer: int) -> None:
    zone = ZoneInfo(ZONE)
    today = datetime.now(zone).date()
    events = []
    for cid in ids:
        for d in range(per_customer):
            day = today - timedelta(days=2 + d)
            moment = datetime(day.year, day.month, day.day, hour, 20, tzinfo=zone)
            events.append({"event_id": f"{cid}-read-{hour}-{d}", "type": "message_read",
                           "customer_id": cid, "occurred_at": iso(moment.astimezone(UTC)),
                           "plan_id": "pl_old"})
    assert api.post("/v1/events", {"events": events}).status_code == 202


def test_best_schedules_at_the_shops_peak_read_hour_with_a_warning(api):
    assert api.put("/v1/settings", {"timezone": ZONE}).status_code == 200
    ids = seed_followers(api, 4)
    local_now = datetime.now(ZoneInfo(ZONE))
    peak = (local_now + timedelta(hours=5)).hour
    _reads_at_local_hour(api, ids, peak, 2)                      # 8 reads at the peak
    _reads_at_local_hour(api, ids[:1], (peak + 3) % 24, 1)       # 1 read elsewhere
    plan = create_plan(api, send_at="best")
    assert plan["status"] == "scheduled"
    send_at = datetime.fromisoformat(plan["send_at"].replace("Z", "+00:00"))
    local = send_at.astimezone(ZoneInfo(ZONE))
    assert (local.hour, local.minute, local.second) == (peak, 0, 0)
    assert datetime.now(UTC) < send_at <= datetime.now(UTC) + timedelta(hours=24)
    assert any(w.startswith(f"send_time: {peak:02d}:00") and "8 of 9" in w
               for w in plan["warnings"]), plan["warnings"]


def test_best_without_reads_is_20_00_and_a_draft_keeps_it(api):
    assert api.put("/v1/settings", {"timezone": ZONE}).status_code == 200
    seed_followers(api, 2)
    draft = create_plan(api, action="draft", send_at="best")
    assert draft["status"] == "draft"
    local = datetime.fromisoformat(draft["send_at"].replace("Z", "+00:00")).astimezone(
        ZoneInfo(ZONE))
    assert (local.hour, local.minute) == (20, 0)
    assert any("no message reads" in w for w in draft["warnings"])
    patched = api.patch(f"/v1/plans/{draft['plan_id']}", {"send_at": "best"}).json
    assert patched["send_at"] == draft["send_at"]


def test_a_send_at_that_is_neither_a_time_nor_best_is_400(api):
    r = api.post("/v1/plans", {"name": "x", "send_at": "soonish"})
    assert r.status_code == 400 and r.json["error"]["details"][0]["path"].startswith("send_at")
