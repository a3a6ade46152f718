"""GET /v1/conversations: only customers who replied to a plan's message, one item per
customer and plan, replies oldest first, items newest reply first, paged; exact under a
redelivered events batch; never another seller's."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tests.integration.delivery_support import create_plan, iso, run_pipeline, seed_followers


def _reply(api, plan_id, cid, n, minutes_ago, text=None):
    event = {"event_id": f"{cid}-{plan_id}-reply-{n}", "type": "message_replied",
             "customer_id": cid, "plan_id": plan_id,
             "occurred_at": iso(datetime.now(UTC) - timedelta(minutes=minutes_ago)),
             **({"text": text} if text is not None else {})}
    r = api.post("/v1/events", {"events": [event]})
    assert r.status_code == 202 and not r.json["rejected"], r.json
    return event


def _all(api, limit=50):
    items, cursor = [], None
    while True:
        r = api.get(f"/v1/conversations?limit={limit}" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status_code == 200, r.json
        items += r.json["items"]
        cursor = r.json["next_cursor"]
        if cursor is None:
            return items


def test_only_customers_who_replied_appear_with_the_message_and_their_replies(api, app):
    api.put("/v1/settings", {"shop_name": "Rice Shop"})
    ids = seed_followers(api, 5)
    first = create_plan(api)
    run_pipeline(app)
    assert api.get("/v1/conversations").json == {"items": [], "next_cursor": None}
    from chalicelib.delivery import engagement  # noqa: F401 (the read below is not a reply)
    api.post("/v1/events", {"events": [{"event_id": "r1", "type": "message_read",
                                        "customer_id": ids[0], "plan_id": first["plan_id"],
                                        "occurred_at": iso(datetime.now(UTC))}]})
    late = _reply(api, first["plan_id"], ids[2], 2, minutes_ago=1, text="Is it organic?")
    early = _reply(api, first["plan_id"], ids[2], 1, minutes_ago=5)          # no text
    _reply(api, first["plan_id"], ids[3], 1, minutes_ago=3, text="Thanks")
    _reply(api, "pl_not_theirs", ids[4], 1, minutes_ago=2, text="?")          # no such message
    run_pipeline(app, duplicate=True)                                          # redelivered
    items = _all(api)
    assert [(i["customer_id"], i["plan_id"]) for i in items] == [
        (ids[2], first["plan_id"]), (ids[3], first["plan_id"])]               # newest reply first
    two = items[0]
    assert two["replied_at"] == late["occurred_at"]
    assert two["replies"] == [{"at": early["occurred_at"], "text": None},
                              {"at": late["occurred_at"], "text": "Is it organic?"}]
    inbox = api.get(f"/v1/customers/{ids[2]}/inbox").json["items"][0]
    assert two["message"] == {"text": inbox["text"], "sent_at": inbox["sent_at"]}
    # a later reply moves the conversation to the top; a second plan is its own item
    second = create_plan(api)
    run_pipeline(app)
    _reply(api, first["plan_id"], ids[3], 2, minutes_ago=0, text="When?")
    _reply(api, second["plan_id"], ids[3], 1, minutes_ago=0.5, text="Other plan")
    run_pipeline(app)
    items = _all(api)
    assert [(i["customer_id"], i["plan_id"]) for i in items] == [
        (ids[3], first["plan_id"]), (ids[3], second["plan_id"]), (ids[2], first["plan_id"])]
    assert [r["text"] for r in items[0]["replies"]] == ["Thanks", "When?"]
    assert api.as_seller("s-other-shop").get("/v1/conversations").json["items"] == []


def test_conversations_page_with_stable_cursors(api, app):
    ids = seed_followers(api, 7)
    plan = create_plan(api)
    run_pipeline(app)
    for n, cid in enumerate(ids):
        _reply(api, plan["plan_id"], cid, 1, minutes_ago=10 - n, text=f"hi {n}")
    run_pipeline(app)
    paged = _all(api, limit=3)
    assert [i["customer_id"] for i in paged] == list(reversed(ids))
    r = api.get("/v1/conversations?limit=3")
    assert len(r.json["items"]) == 3 and r.json["next_cursor"]
    assert api.get("/v1/conversations?cursor=not-a-cursor").status_code == 400


def test_replies_to_a_test_send_show_no_conversation(api, app):
    ids = seed_followers(api, 1)
    plan = create_plan(api, action="draft")
    assert api.post(f"/v1/plans/{plan['plan_id']}/test-send", {"customer_id": ids[0]}).status_code == 200
    _reply(api, plan["plan_id"], ids[0], 1, minutes_ago=0, text="test?")
    run_pipeline(app)
    assert api.get("/v1/conversations").json["items"] == []


def test_a_conversation_keeps_its_latest_replies_within_an_item(api, seller):
    """Many long replies (2,000 Thai characters each) stay one storable item: the latest."""
    from chalicelib.store import conversations

    long = "ข้าว" * 500
    for start in range(0, 120, 30):
        conversations.add_replies(seller, "c1", "pl_x", {
            f"e{n:03d}": (1_800_000_000_000_000 + n, long) for n in range(start, start + 30)})
    item = conversations.ConversationItem.get(seller, conversations.thread_of("c1", "pl_x"))
    kept = sorted(item.replies)
    assert kept[-1] == "e119" and len(kept) < 100
    assert kept == [f"e{n:03d}" for n in range(120 - len(kept), 120)]
