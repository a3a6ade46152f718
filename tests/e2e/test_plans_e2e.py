"""Plans over HTTP on the real local stack: a scheduled plan fired by the scheduler
emulator, a cancelled one that never sends, and the demo shop's catalogue and settings."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

LEAD_S = 20     # a scheduled plan's send time, this far ahead


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _shop(http) -> None:
    assert http.call("PUT", "/v1/settings", json={"shop_name": "E2E Shop",
                                                  "timezone": "Asia/Bangkok"}).status_code == 200
    assert http.call("PUT", "/v1/products/rice", json={"name": "Rice", "price": "99.00",
                                                       "currency": "THB"}).status_code == 201
    events = []
    for i, language in enumerate(("th", "vi", "en")):
        cid = f"c{i}"
        assert http.call("PUT", f"/v1/customers/{cid}",
                         json={"name": f"Buyer {i}", "language": language}).status_code == 201
        events.append({"event_id": f"{cid}-f", "type": "followed", "customer_id": cid,
                       "occurred_at": _iso(datetime.now(UTC) - timedelta(hours=5))})
    assert http.call("POST", "/v1/events", json={"events": events}).status_code == 202


def _plan(http, send_at: datetime) -> dict:
    r = http.call("POST", "/v1/plans", json={
        "name": "Flash sale tonight", "audience": {"segment_ids": ["new_followers"]},
        "content": {"template_id": "best_sellers"}, "product_ids": ["rice"],
        "button": {"type": "product_list"}, "send_at": send_at.isoformat(), "action": "send"})
    assert r.status_code == 201, r.text
    return r.json()


def test_a_scheduled_plan_is_fired_by_the_scheduler_and_sent(http):
    _shop(http)
    bangkok = datetime.now(UTC).astimezone(ZoneInfo("Asia/Bangkok"))
    # LEAD_S ahead, so the emulator (firing every second) cannot send it before it is read
    # back as scheduled, however slow the machine.
    plan = _plan(http, bangkok + timedelta(seconds=LEAD_S))
    assert plan["status"] == "scheduled" and plan["send_at"].endswith("Z")
    assert r_status(http, plan["plan_id"]) == "scheduled"

    done = http.wait_for(lambda: r_status(http, plan["plan_id"]) == "sent", timeout=LEAD_S + 120)
    assert done, http.call("GET", f"/v1/plans/{plan['plan_id']}").json()
    inbox = {cid: http.call("GET", f"/v1/customers/{cid}/inbox").json()["items"]
             for cid in ("c0", "c1", "c2")}
    assert all(len(items) == 1 for items in inbox.values())
    assert inbox["c0"][0]["locale"] == "th" and "Buyer 0" in inbox["c0"][0]["text"]
    assert "E2E Shop" in inbox["c2"][0]["text"] and "Rice" in inbox["c2"][0]["text"]
    # sent: view only
    assert http.call("POST", f"/v1/plans/{plan['plan_id']}/cancel").status_code == 409


def test_a_cancelled_plan_never_sends(http):
    _shop(http)
    send_at = time.time() + LEAD_S      # far enough ahead that the cancel lands first
    plan = _plan(http, datetime.fromtimestamp(send_at, UTC))
    r = http.call("POST", f"/v1/plans/{plan['plan_id']}/cancel")
    assert r.status_code == 200 and r.json()["status"] == "cancelled"
    # until past the send time (the emulator had its chance to fire): it stays cancelled
    while True:
        past = time.time() > send_at + 5
        assert r_status(http, plan["plan_id"]) == "cancelled"
        assert http.call("GET", "/v1/customers/c0/inbox").json()["items"] == []
        if past:
            break
        time.sleep(1)
    assert http.call("DELETE", f"/v1/plans/{plan['plan_id']}").status_code == 204
    assert http.call("GET", f"/v1/plans/{plan['plan_id']}").status_code == 404


def test_demo_shop_has_its_catalogue_settings_and_thai_templates(demo):
    settings = demo.call("GET", "/v1/settings").json()
    assert settings["shop_name"] == "Demo Shop" and settings["default_locale"] == "th"
    assert demo.call("GET", "/v1/products/demo-p01").status_code == 200
    assert demo.call("GET", "/v1/products/demo-p20").status_code == 200
    assert any(v["voucher_id"] == "demo-v-welcome"
               for v in demo.call("GET", "/v1/vouchers").json()["items"])
    thai = demo.call("GET", "/v1/templates?goal=bring_back&locale=th").json()["items"]
    assert thai and all(list(t["text"]) == ["th"] for t in thai)


def r_status(http, plan_id: str) -> str:
    return http.call("GET", f"/v1/plans/{plan_id}").json()["status"]
