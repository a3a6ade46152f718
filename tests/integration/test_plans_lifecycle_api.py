"""The plan lifecycle over the API: send now / later, schedules, cancel, delete, PATCH with
If-Match, every forbidden move a 409, concurrent edits losing nothing, test-send."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.conftest import drain


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


@pytest.fixture
def draft(api):
    """A complete draft plan of a fresh shop (audience: new followers; one follower)."""
    api.put("/v1/products/p1", {"name": "Rice", "price": "10.00", "currency": "THB"})
    api.put("/v1/customers/c1", {"name": "Ploy", "language": "th"})
    api.post("/v1/events", {"events": [{"event_id": "c1-f", "type": "followed", "customer_id": "c1",
                                        "occurred_at": _iso(timedelta(hours=-3))}]})
    r = api.post("/v1/plans", {"name": "Hello followers", "audience": {"segment_ids": ["new_followers"]},
                               "content": {"text": {"en": "Hi {name}", "th": "สวัสดี {name}"}},
                               "product_ids": ["p1"]})
    assert r.status_code == 201, r.json
    return r.json


def _schedule(seller_id: str, plan_id: str) -> dict | None:
    from chalicelib.delivery.scheduling import schedule_name
    from chalicelib.store import schedules

    return schedules.get(schedule_name(seller_id, plan_id))


def test_send_now_goes_in_progress_then_sent_when_every_recipient_is_handled(api, app, draft):
    plan_id = draft["plan_id"]
    r = api.post(f"/v1/plans/{plan_id}/send")
    assert r.status_code == 200, r.json
    assert r.json["status"] == "in_progress" and r.json["version"] == 2
    assert r.headers["ETag"] == "2" and r.json["send_at"] is not None
    for queue in ("dispatch", "delivery", "metrics"):
        drain(app, queue)
    assert api.get(f"/v1/plans/{plan_id}").json["status"] == "sent"
    inbox = api.get("/v1/customers/c1/inbox").json["items"]
    assert [(m["plan_id"], m["text"], m["test"]) for m in inbox] == [(plan_id, "สวัสดี Ploy", False)]


def test_send_later_creates_a_one_time_schedule_to_the_dispatch_queue(api, draft):
    from chalicelib.store import queues

    r = api.post("/v1/plans", {**{k: draft[k] for k in ("name", "audience", "content", "product_ids")},
                               "send_at": "2027-01-15T09:30:00+07:00", "action": "send"})
    assert r.status_code == 201, r.json
    plan = r.json
    assert plan["status"] == "scheduled" and plan["send_at"] == "2027-01-15T02:30:00Z"
    found = _schedule(api.seller_id, plan["plan_id"])
    assert found["ScheduleExpression"] == "at(2027-01-15T02:30:00)"
    assert found["ScheduleExpressionTimezone"] == "UTC"
    assert found["ActionAfterCompletion"] == "DELETE"
    assert found["Target"]["Arn"] == queues.arn("dispatch")
    assert json.loads(found["Target"]["Input"]) == {"seller_id": api.seller_id,
                                                    "plan_id": plan["plan_id"]}


def test_cancel_deletes_the_schedule_and_a_late_firing_does_nothing(api, app, draft):
    from chalicelib.local.scheduler import fire_due

    api.patch(f"/v1/plans/{draft['plan_id']}", {"send_at": _iso(timedelta(minutes=5))})
    scheduled = api.post(f"/v1/plans/{draft['plan_id']}/send").json
    assert scheduled["status"] == "scheduled"
    assert _schedule(api.seller_id, draft["plan_id"]) is not None
    cancelled = api.post(f"/v1/plans/{draft['plan_id']}/cancel")
    assert cancelled.status_code == 200
    assert cancelled.json["status"] == "cancelled" and cancelled.json["cancelled_at"]
    assert _schedule(api.seller_id, draft["plan_id"]) is None
    # a schedule that fired anyway (e.g. just before the delete) finds a cancelled plan
    from chalicelib.delivery import scheduling

    scheduling.schedule(api.seller_id, draft["plan_id"], datetime.now(UTC) - timedelta(seconds=1))
    assert fire_due(datetime.now(UTC)) >= 1
    drain(app, "dispatch")
    drain(app, "delivery")
    assert api.get(f"/v1/plans/{draft['plan_id']}").json["status"] == "cancelled"
    assert api.get("/v1/customers/c1/inbox").json["items"] == []


def test_quiet_hours_defer_a_send_now_to_the_end_of_the_window(api, draft):
    now = datetime.now(UTC)
    start, end = now - timedelta(hours=1), now + timedelta(hours=2)
    api.put("/v1/settings", {"timezone": "UTC",
                             "quiet_hours": {"start": f"{start:%H:%M}", "end": f"{end:%H:%M}"}})
    r = api.post(f"/v1/plans/{draft['plan_id']}/send")
    assert r.status_code == 200, r.json
    assert r.json["status"] == "scheduled"
    expected = end.replace(second=0, microsecond=0)
    assert r.json["send_at"] == expected.isoformat().replace("+00:00", "Z")
    assert len(r.json["warnings"]) == 1 and "quiet_hours" in r.json["warnings"][0]
    assert _schedule(api.seller_id, draft["plan_id"])["ScheduleExpression"] == \
        f"at({expected:%Y-%m-%dT%H:%M:%S})"


def test_delete_draft_and_cancelled_plans_only(api, draft):
    assert api.delete(f"/v1/plans/{draft['plan_id']}").status_code == 204
    assert api.get(f"/v1/plans/{draft['plan_id']}").status_code == 404
    assert api.delete(f"/v1/plans/{draft['plan_id']}").status_code == 404


def _reach(api, app, plan_id: str, status: str) -> None:
    """Drive a fresh draft to ``status`` through the API."""
    if status == "scheduled":
        api.patch(f"/v1/plans/{plan_id}", {"send_at": _iso(timedelta(days=1))})
    if status != "draft":
        assert api.post(f"/v1/plans/{plan_id}/send").status_code == 200
    if status == "sent":
        for queue in ("dispatch", "delivery", "metrics"):
            drain(app, queue)
    if status == "cancelled":
        assert api.post(f"/v1/plans/{plan_id}/cancel").status_code == 200
    assert api.get(f"/v1/plans/{plan_id}").json["status"] == status


# (status, action) pairs the lifecycle forbids for one-off plans, as the API sees them.
FORBIDDEN = {
    "draft": ["cancel", "pause", "resume"],
    "scheduled": ["edit", "delete", "send", "pause", "resume"],
    "in_progress": ["edit", "delete", "send", "pause", "resume"],
    "sent": ["edit", "delete", "send", "cancel", "pause", "resume", "test-send"],
    "cancelled": ["edit", "send", "cancel", "pause", "resume", "test-send"],
}


@pytest.mark.parametrize("status", list(FORBIDDEN))
def test_every_move_the_lifecycle_forbids_is_a_409_and_changes_nothing(api, app, draft, status):
    plan_id = draft["plan_id"]
    _reach(api, app, plan_id, status)
    before = api.get(f"/v1/plans/{plan_id}").json
    for action in FORBIDDEN[status]:
        if action == "edit":
            r = api.patch(f"/v1/plans/{plan_id}", {"name": "Changed"})
        elif action == "delete":
            r = api.delete(f"/v1/plans/{plan_id}")
        elif action == "test-send":
            r = api.post(f"/v1/plans/{plan_id}/test-send", {"customer_id": "c1"})
        else:
            r = api.post(f"/v1/plans/{plan_id}/{action}")
        assert r.status_code == 409, (status, action, r.json)
        assert r.json["error"]["code"] == "conflict"
    assert api.get(f"/v1/plans/{plan_id}").json == before


def test_patch_replaces_fields_of_a_draft_and_honours_if_match(api, draft):
    plan_id = draft["plan_id"]
    ok = api.patch(f"/v1/plans/{plan_id}", {"name": "Renamed", "send_at": "2027-02-01T10:00:00"},
                   headers={"If-Match": "1"})
    assert ok.status_code == 200 and ok.json["version"] == 2 and ok.headers["ETag"] == "2"
    assert ok.json["name"] == "Renamed"
    assert ok.json["send_at"] == "2027-02-01T10:00:00Z"   # no offset: shop time zone (UTC)
    assert ok.json["content"] == draft["content"]          # fields left out are kept
    stale = api.patch(f"/v1/plans/{plan_id}", {"name": "Stale"}, headers={"If-Match": '"1"'})
    assert stale.status_code == 412 and stale.json["error"]["code"] == "precondition_failed"
    cleared = api.patch(f"/v1/plans/{plan_id}", {"send_at": None, "button": None})
    assert cleared.status_code == 200 and cleared.json["send_at"] is None
    assert api.patch(f"/v1/plans/{plan_id}", {"name": None}).status_code == 400
    assert api.patch(f"/v1/plans/{plan_id}", {"product_ids": ["ghost"]}).status_code == 400
    # read-only fields of a GET body sent back are ignored, not applied
    assert api.patch(f"/v1/plans/{plan_id}", {"kind": "automated"}).json["kind"] == "one_off"
    assert api.patch(f"/v1/plans/{plan_id}", {"name": "x"},
                     headers={"If-Match": "abc"}).status_code == 400
    assert api.get(f"/v1/plans/{plan_id}").json["name"] == "Renamed"


def test_patch_reads_a_naive_send_at_in_the_shops_time_zone(api, draft):
    api.put("/v1/settings", {"timezone": "Asia/Bangkok"})
    r = api.patch(f"/v1/plans/{draft['plan_id']}", {"send_at": "2027-02-01T10:00:00"})
    assert r.json["send_at"] == "2027-02-01T03:00:00Z"


@pytest.fixture
def interleave(monkeypatch):
    """Run ``other()`` right after the next read of a plan, before its writer saves: the
    read-modify-write race two sellers editing at once can produce."""
    from chalicelib.store import plans as store

    real_get = store.get
    pending: list = []

    def get(seller_id, plan_id):
        item = real_get(seller_id, plan_id)
        while pending:
            pending.pop()()
        return item

    monkeypatch.setattr(store, "get", get)
    return pending.append


def test_concurrent_patches_with_if_match_one_wins_the_other_gets_412(api, draft, interleave):
    plan_id = draft["plan_id"]
    winner = []
    interleave(lambda: winner.append(api.patch(f"/v1/plans/{plan_id}", {"name": "Winner"},
                                               headers={"If-Match": "1"})))
    loser = api.patch(f"/v1/plans/{plan_id}", {"product_ids": []}, headers={"If-Match": "1"})
    assert winner[0].status_code == 200 and loser.status_code == 412
    final = api.get(f"/v1/plans/{plan_id}").json
    assert final["name"] == "Winner" and final["product_ids"] == ["p1"] and final["version"] == 2


def test_concurrent_patches_without_if_match_lose_no_update(api, draft, interleave):
    plan_id = draft["plan_id"]
    interleave(lambda: api.patch(f"/v1/plans/{plan_id}", {"name": "From A"}))
    interleave(lambda: api.patch(f"/v1/plans/{plan_id}", {"button": {"type": "live"}}))
    r = api.patch(f"/v1/plans/{plan_id}", {"content": {"template_id": "win_back"}})
    assert r.status_code == 200
    final = api.get(f"/v1/plans/{plan_id}").json
    assert final["name"] == "From A" and final["button"] == {"type": "live"}
    assert final["content"] == {"template_id": "win_back"} and final["version"] == 4


def test_a_send_racing_an_edit_wins_or_loses_cleanly(api, draft, interleave):
    plan_id = draft["plan_id"]
    interleave(lambda: api.post(f"/v1/plans/{plan_id}/send"))
    r = api.patch(f"/v1/plans/{plan_id}", {"name": "Too late"})
    assert r.status_code == 409          # re-read after the conflict: no longer a draft
    assert api.get(f"/v1/plans/{plan_id}").json["name"] == draft["name"]


def test_test_send_reaches_one_customer_marked_test_and_counts_nowhere(api, app, draft):
    plan_id = draft["plan_id"]
    r = api.post(f"/v1/plans/{plan_id}/test-send", {"customer_id": "c1"})
    assert r.status_code == 200, r.json
    assert r.json["test"] is True and r.json["text"] == "สวัสดี Ploy"
    inbox = api.get("/v1/customers/c1/inbox").json["items"]
    assert len(inbox) == 1 and inbox[0]["test"] is True and inbox[0]["plan_id"] == plan_id
    assert api.get(f"/v1/plans/{plan_id}").json["status"] == "draft"
    perf = api.get(f"/v1/plans/{plan_id}/performance").json
    assert perf["recipients"] == 0 and perf["delivered"] == 0
    assert api.post(f"/v1/plans/{plan_id}/test-send", {"customer_id": "ghost"}).status_code == 404
    assert api.post(f"/v1/plans/{plan_id}/test-send", {}).status_code == 400


def test_sending_with_a_tag_filter_records_the_tags_usage(api, draft):
    api.post("/v1/tags", {"name": "VIP", "dimension": "spending_power"})
    api.post("/v1/customers/c1/tags", {"add": ["VIP"]})
    assert [s["tag"] for s in api.get("/v1/tags/health").json["silent"]] == ["VIP"]
    r = api.patch(f"/v1/plans/{draft['plan_id']}", {"audience": {"segment_ids": ["new_followers"],
                                                                 "tags": {"any": ["VIP"]}}})
    assert r.status_code == 200, r.json
    assert api.post(f"/v1/plans/{draft['plan_id']}/send").status_code == 200
    assert api.get("/v1/tags/health").json["silent"] == []
