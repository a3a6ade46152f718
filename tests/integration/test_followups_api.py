"""POST /v1/plans/{plan_id}/follow-up end to end: a new one-off plan whose audience is the
original's delivered recipients who have not read it when the follow-up is dispatched."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.integration.delivery_support import create_plan, engagement, run_pipeline, seed_followers


def _sent_plan(api, app, count=6, blocked=(1,)):
    ids = seed_followers(api, count, blocked=blocked)
    plan = create_plan(api)
    run_pipeline(app)
    plan = api.get(f"/v1/plans/{plan['plan_id']}").json
    assert plan["status"] == "sent"
    return ids, plan


def _inbox_plans(api, cid):
    return [m["plan_id"] for m in api.get(f"/v1/customers/{cid}/inbox").json["items"]]


def test_a_follow_up_now_reaches_only_the_delivered_recipients_who_did_not_read(api, app):
    ids, original = _sent_plan(api, app)               # ids[1] blocked: never delivered
    engagement(api, original["plan_id"], ids[0], "message_read")
    engagement(api, original["plan_id"], ids[2], "message_clicked")   # a click is a read
    run_pipeline(app)
    r = api.post(f"/v1/plans/{original['plan_id']}/follow-up",
                 {"send_at": None, "content": {"text": {"en": "Still thinking, {name}?"}}})
    assert r.status_code == 201, r.json
    follow = r.json
    assert (follow["status"], follow["follow_up_of"], follow["kind"]) == (
        "in_progress", original["plan_id"], "one_off")
    assert follow["product_ids"] == original["product_ids"]          # inherited
    assert follow["name"] == f"{original['name']} (follow-up)"
    run_pipeline(app)
    assert api.get(f"/v1/plans/{follow['plan_id']}").json["status"] == "sent"
    got = {cid for cid in ids if follow["plan_id"] in _inbox_plans(api, cid)}
    assert got == {ids[3], ids[4], ids[5]}
    message = api.get(f"/v1/customers/{ids[3]}/inbox").json["items"][0]
    assert message["text"] == "Still thinking, Customer 3?"
    perf = api.get(f"/v1/plans/{follow['plan_id']}/performance").json
    assert (perf["recipients"], perf["delivered"]) == (3, 3)
    # a plan may have several follow-ups
    again = api.post(f"/v1/plans/{original['plan_id']}/follow-up", {"action": "draft"})
    assert again.status_code == 201 and again.json["status"] == "draft"


def test_the_audience_is_fixed_when_the_follow_up_is_dispatched(api, app):
    from chalicelib.delivery import dispatch

    ids, original = _sent_plan(api, app, count=4, blocked=())
    follow = api.post(f"/v1/plans/{original['plan_id']}/follow-up", {"after_days": 1}).json
    assert follow["status"] == "scheduled"
    sent_at = datetime.fromisoformat(original["send_at"].replace("Z", "+00:00"))
    assert follow["send_at"] == (sent_at + timedelta(days=1)).isoformat().replace("+00:00", "Z")
    engagement(api, original["plan_id"], ids[1], "message_read")     # reads before dispatch
    run_pipeline(app)
    assert dispatch.dispatch(api.seller_id, follow["plan_id"], datetime.now(UTC)) == "dispatched"
    run_pipeline(app)
    engagement(api, original["plan_id"], ids[2], "message_read")     # after: too late to leave
    run_pipeline(app)
    got = {cid for cid in ids if follow["plan_id"] in _inbox_plans(api, cid)}
    assert got == {ids[0], ids[2], ids[3]}


def test_default_timing_is_three_days_after_the_original(api, app):
    _, original = _sent_plan(api, app, count=2, blocked=())
    follow = api.post(f"/v1/plans/{original['plan_id']}/follow-up", {}).json
    sent_at = datetime.fromisoformat(original["send_at"].replace("Z", "+00:00"))
    assert follow["status"] == "scheduled"
    assert follow["send_at"] == (sent_at + timedelta(days=3)).isoformat().replace("+00:00", "Z")
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    at = api.post(f"/v1/plans/{original['plan_id']}/follow-up", {"send_at": later}).json
    assert at["status"] == "scheduled" and at["send_at"].startswith(later[:16])


def test_follow_up_refusals(api, app):
    seed_followers(api, 2)
    draft = create_plan(api, action="draft")
    r = api.post(f"/v1/plans/{draft['plan_id']}/follow-up", {})
    assert r.status_code == 409 and r.json["error"]["code"] == "conflict"
    sending = create_plan(api)                                  # in_progress, not sent
    assert api.post(f"/v1/plans/{sending['plan_id']}/follow-up", {}).status_code == 409
    run_pipeline(app)
    both = api.post(f"/v1/plans/{sending['plan_id']}/follow-up", {"after_days": 2, "send_at": None})
    assert both.status_code == 400
    bad = api.post(f"/v1/plans/{sending['plan_id']}/follow-up", {"after_days": 31})
    assert bad.status_code == 400 and bad.json["error"]["details"][0]["path"] == "after_days"
    assert api.post("/v1/plans/pl_nope/follow-up", {}).status_code == 404
    other = api.as_seller("s-someone-else").post(f"/v1/plans/{sending['plan_id']}/follow-up", {})
    assert other.status_code == 404
    assert api.as_role("viewer").post(f"/v1/plans/{sending['plan_id']}/follow-up", {}).status_code == 403
