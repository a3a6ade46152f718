"""POST /v1/events: every type, idempotency by event_id, out-of-order and late arrival,
one bad event rejected alone, shop-level events, the size limits."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from tests.unit.test_aggregates import EXTRA

NOW = datetime.now(UTC)


def at(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat().replace("+00:00", "Z")


def event(eid: str, etype: str, days_ago: float = 1, customer: str = "c1", **extra) -> dict:
    return {"event_id": eid, "type": etype, "customer_id": customer, "occurred_at": at(days_ago),
            **EXTRA.get(etype, {}), **extra}


def test_every_event_type_is_accepted(api):
    events = [event(f"e-{t}", t) for t in sorted(EXTRA)]
    events.append({"event_id": "e-live", "type": "live_started", "occurred_at": at(0),
                   "live_id": "l1", "starts_at": at(-1)})
    events.append({"event_id": "e-drop", "type": "price_dropped", "occurred_at": at(0),
                   "product_id": "p1", "old_price": "10.00", "new_price": "8.00"})
    r = api.post("/v1/events", {"events": events})
    assert r.status_code == 202
    assert r.json == {"accepted": len(events), "duplicates": 0, "rejected": []}


def test_an_unknown_customer_is_created_by_its_first_event(api):
    api.post("/v1/events", {"events": [event("e1", "order_paid", 3, customer="new-1")]})
    body = api.get("/v1/customers/new-1").json
    assert body["name"] is None and body["stats"]["order_count"] == 1
    assert body["stats"]["total_paid"] == "10.00"


def test_a_repeated_event_id_changes_nothing(api):
    first = api.post("/v1/events", {"events": [event("e1", "order_paid", 3)]}).json
    before = api.get("/v1/customers/c1").json
    again = api.post("/v1/events", {"events": [event("e1", "order_paid", 3),
                                               event("e1", "order_paid", 3)]}).json
    assert first["accepted"] == 1
    assert again == {"accepted": 0, "duplicates": 2, "rejected": []}
    after = api.get("/v1/customers/c1").json
    assert after["stats"] == before["stats"] and after["version"] == before["version"]


def test_duplicates_inside_one_call_count_once(api):
    r = api.post("/v1/events", {"events": [event("e1", "order_paid", 3),
                                           event("e1", "order_paid", 3)]}).json
    assert (r["accepted"], r["duplicates"]) == (1, 1)
    assert api.get("/v1/customers/c1").json["stats"]["order_count"] == 1


def test_out_of_order_and_late_events_give_the_same_customer(api):
    events = [event("o1", "order_paid", 200, order_id="a", amount="5.00"),
              event("o2", "order_paid", 20, order_id="b", amount="7.00"),
              event("r1", "order_refunded", 19, order_id="b"),
              event("f1", "followed", 60), event("u1", "unfollowed", 30), event("f2", "followed", 10),
              event("o3", "order_paid", 364, order_id="c", amount="1.00")]
    other = api.as_seller(api.seller_id + "-b")
    api.post("/v1/events", {"events": events})
    shuffled = events[:]
    random.Random(3).shuffle(shuffled)
    for e in shuffled:                       # one by one, in another order
        other.post("/v1/events", {"events": [e]})
    a, b = api.get("/v1/customers/c1").json, other.get("/v1/customers/c1").json
    for body in (a, b):
        body.pop("version")
    assert a == b
    assert a["stats"]["order_count"] == 2 and a["stats"]["total_paid"] == "6.00"
    assert a["is_follower"] and a["followed_at"].startswith(at(10)[:16])


def test_one_bad_event_is_rejected_alone_with_its_index(api):
    events = [event("ok1", "followed"),
              event("bad1", "order_paid", amount="-3"),
              {"event_id": "bad2", "type": "teleported", "customer_id": "c1", "occurred_at": at(1)},
              event("bad3", "followed", 400),
              event("bad4", "followed", -1),
              {"event_id": "bad5", "type": "followed", "customer_id": "c1",
               "occurred_at": "2026-11-01T10:00:00"},
              event("ok2", "video_liked")]
    r = api.post("/v1/events", {"events": events})
    assert r.status_code == 202
    assert r.json["accepted"] == 2 and r.json["duplicates"] == 0
    assert [x["index"] for x in r.json["rejected"]] == [1, 2, 3, 4, 5]
    reasons = {x["index"]: x["error"] for x in r.json["rejected"]}
    assert "amount" in reasons[1] and "365" in reasons[3] and "future" in reasons[4]
    assert "offset" in reasons[5]


def test_a_customer_event_without_customer_is_rejected(api):
    r = api.post("/v1/events", {"events": [{"event_id": "x", "type": "followed",
                                            "occurred_at": at(1)}]})
    assert r.json["accepted"] == 0 and "customer_id" in r.json["rejected"][0]["error"]


def test_shop_events_are_stored_once(api):
    from chalicelib.store import events as store

    live = {"event_id": "live-1", "type": "live_started", "occurred_at": at(0), "live_id": "L",
            "starts_at": at(-0.1)}
    assert api.post("/v1/events", {"events": [live]}).json["accepted"] == 1
    assert api.post("/v1/events", {"events": [live]}).json["duplicates"] == 1
    stored = store.shop_events(api.seller_id, "live_started")
    assert [s.data["live_id"] for s in stored] == ["L"]


@pytest.mark.parametrize("body, status", [
    ({"events": []}, 400),
    ({"events": "nope"}, 400),
    ({}, 400),
    ({"events": [event(f"e{i}", "followed") for i in range(501)]}, 413),
])
def test_batch_size_is_1_to_500(api, body, status):
    r = api.post("/v1/events", body)
    assert r.status_code == status
    assert r.json["error"]["code"] == {400: "validation_error", 413: "too_large"}[status]


def test_500_events_in_one_call_are_all_kept(api):
    events = [event(f"e{i}", "product_viewed", 1 + i % 300, customer=f"c{i % 50}")
              for i in range(500)]
    assert api.post("/v1/events", {"events": events}).json["accepted"] == 500


def test_applied_events_are_published_once_per_call_for_the_reactions(api, app):
    from chalicelib.services import reactions

    seen = []
    reactions.SUBSCRIBERS.append("tests.integration.test_events:_record")
    _record.sink = seen
    try:
        from tests.integration.conftest import drain

        drain(app, "events")
        seen.clear()
        api.post("/v1/events", {"events": [event("p1", "followed"), event("p2", "video_liked")]})
        api.post("/v1/events", {"events": [event("p1", "followed")]})     # duplicate: not again
        drain(app, "events")
    finally:
        reactions.SUBSCRIBERS.remove("tests.integration.test_events:_record")
    mine = [e["event_id"] for s, batch in seen if s == api.seller_id for e in batch]
    assert sorted(mine) == ["p1", "p2"]


def _record(seller_id, events, now):
    _record.sink.append((seller_id, events))


def test_a_crash_after_the_customer_write_loses_nothing_and_double_counts_nothing(api, monkeypatch):
    """The id ring on the customer makes the retry a no-op for the aggregate, and the retry
    still records the ids and publishes the reactions."""
    from chalicelib.store import events as store

    calls = {"n": 0}
    real = store.mark_seen

    def crash_once(*args, **kwargs):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("crash between the customer write and the id record")
        return real(*args, **kwargs)

    monkeypatch.setattr(store, "mark_seen", crash_once)
    first = api.post("/v1/events", {"events": [event("e1", "order_paid", 2)]})
    assert first.status_code == 500 and "Traceback" not in first.body.decode()
    retry = api.post("/v1/events", {"events": [event("e1", "order_paid", 2)]}).json
    assert retry == {"accepted": 0, "duplicates": 1, "rejected": []}
    assert api.get("/v1/customers/c1").json["stats"]["order_count"] == 1
    assert store.seen(api.seller_id, ["e1"]) == {"e1"}


def test_concurrent_calls_for_one_customer_lose_no_event(api, atomic_moto):
    from concurrent.futures import ThreadPoolExecutor

    def send(i):
        return api.post("/v1/events", {"events": [event(f"c{i}", "order_paid", 1,
                                                        order_id=f"o{i}")]}).json["accepted"]

    with ThreadPoolExecutor(8) as pool:
        assert sum(pool.map(send, range(24))) == 24
    assert api.get("/v1/customers/c1").json["stats"]["order_count"] == 24


def _at_offset(offset: timedelta) -> str:
    return (datetime.now(UTC) + offset).isoformat().replace("+00:00", "Z")


@pytest.mark.parametrize("offset, accepted", [
    (-timedelta(days=365) + timedelta(minutes=1), True),
    (-timedelta(days=365) - timedelta(minutes=1), False),
    (timedelta(minutes=4), True),
    (timedelta(minutes=6), False),
    (timedelta(days=365 * 7000), False),
])
def test_an_event_older_than_365_days_or_more_than_5_minutes_ahead_is_rejected_alone(
        api, offset, accepted):
    events = [event("ok", "followed"),
              {**event("edge", "order_paid"), "occurred_at": _at_offset(offset)}]
    r = api.post("/v1/events", {"events": events}).json
    assert r["accepted"] == (2 if accepted else 1)
    assert [x["index"] for x in r["rejected"]] == ([] if accepted else [1])


@pytest.mark.parametrize("count, accepted", [(100, True), (101, False)])
def test_an_event_list_field_holds_at_most_100_ids(api, count, accepted):
    big = event("big", "order_paid", product_ids=[f"p{i}" for i in range(count)])
    r = api.post("/v1/events", {"events": [event("ok", "followed"), big]}).json
    assert r["accepted"] == (2 if accepted else 1)
    if not accepted:
        assert r["rejected"][0]["index"] == 1 and "product_ids" in r["rejected"][0]["error"]


@pytest.mark.parametrize("field, value", [
    ("event_id", "e#1"), ("customer_id", "c#1"), ("customer_id", "ลูกค้า"),
    ("customer_id", "c/1"), ("order_id", "o 1"), ("order_id", "x" * 129),
    ("product_ids", ["p1", "p%2"]),
])
def test_ids_in_an_event_keep_to_the_id_alphabet_or_the_event_is_rejected_alone(api, field, value):
    bad = {**event("bad", "order_paid"), field: value}
    r = api.post("/v1/events", {"events": [event("ok", "followed"), bad]}).json
    assert r["accepted"] == 1
    assert r["rejected"][0]["index"] == 1 and field in r["rejected"][0]["error"]
