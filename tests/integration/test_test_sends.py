"""Test sends (API.md "Plans"): never to a customer who blocked or unsubscribed (409), at most
10 per plan in any rolling hour (429 with Retry-After until the oldest falls out), refused
ones do not count, and every one is written to the plan's history with who sent it."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.plans import TEST_SENDS_PER_HOUR

T0 = datetime.now(UTC).replace(microsecond=0)
EN = {"text": {"en": "Hi {name}"}}


@pytest.fixture
def clock(monkeypatch):
    """The API's clock, set by the test (the rolling hour is checked at exact boundaries)."""
    import chalicelib.api.plans as routes

    state = {"now": T0}
    monkeypatch.setattr(routes, "now", lambda: state["now"])

    def at(delta: timedelta) -> None:
        state["now"] = T0 + delta

    return at


def _event(cid: str, etype: str, minutes_ago: int) -> dict:
    moment = datetime.now(UTC) - timedelta(minutes=minutes_ago)
    return {"event_id": f"{cid}-{etype}", "type": etype, "customer_id": cid,
            "occurred_at": moment.isoformat()}


@pytest.fixture
def plan_id(api):
    for cid in ("c1", "c2"):
        assert api.put(f"/v1/customers/{cid}", {"name": cid.upper()}).status_code in (200, 201)
    r = api.post("/v1/plans", {"name": "Hello", "audience": {"segment_ids": ["new_followers"]},
                               "content": EN, "product_ids": []})
    assert r.status_code == 201, r.json
    return r.json["plan_id"]


def _test_send(api, plan_id: str, customer_id: str = "c1"):
    return api.post(f"/v1/plans/{plan_id}/test-send", {"customer_id": customer_id})


def _history(api, plan_id: str) -> list[dict]:
    r = api.get(f"/v1/plans/{plan_id}/history?limit=200")
    assert r.status_code == 200, r.json
    return r.json["items"]


@pytest.mark.parametrize("events, status, outcome", [
    ([("blocked", 60)], 409, "blocked"),
    ([("unsubscribed", 60)], 409, "unsubscribed"),
    ([("blocked", 60), ("unsubscribed", 30)], 409, "blocked"),
    ([("blocked", 60), ("unblocked", 30)], 200, "delivered"),
], ids=["blocked", "unsubscribed", "both", "blocked then unblocked"])
def test_a_test_send_to_a_customer_who_withdrew_consent_is_409(api, plan_id, events, status,
                                                               outcome):
    r = api.post("/v1/events", {"events": [_event("c2", e, m) for e, m in events]})
    assert r.status_code == 202 and r.json["accepted"] == len(events), r.json
    r = _test_send(api, plan_id, "c2")
    assert r.status_code == status, r.json
    if status == 409:
        assert r.json["error"]["code"] == "conflict"
        assert r.json["error"]["details"] == [{"path": "customer_id", "message": outcome}]
        assert api.get("/v1/customers/c2/inbox").json["items"] == []
    assert [(h["customer_id"], h["outcome"]) for h in _history(api, plan_id)] == [("c2", outcome)]


def test_the_eleventh_test_send_in_an_hour_is_429_until_the_oldest_falls_out(api, plan_id,
                                                                             clock):
    for minute in range(TEST_SENDS_PER_HOUR):           # one a minute: t0 .. t0+9min
        clock(timedelta(minutes=minute))
        assert _test_send(api, plan_id).status_code == 200
    for at, retry_after in [(timedelta(minutes=30), 1800),            # t0 falls out at t0+60min
                            (timedelta(minutes=60, milliseconds=-1), 1)]:
        clock(at)
        r = _test_send(api, plan_id, "c2")
        assert r.status_code == 429, r.json
        assert r.json["error"]["code"] == "rate_limited" and set(r.json["error"]) == {
            "code", "message", "details"}
        assert r.headers["Retry-After"] == str(retry_after)
    clock(timedelta(minutes=60))                         # the t0 send is an hour old now
    assert _test_send(api, plan_id).status_code == 200
    r = _test_send(api, plan_id)                         # the t0+1min one is next, 60 s away
    assert (r.status_code, r.headers["Retry-After"]) == (429, "60")
    assert len(api.get("/v1/customers/c1/inbox?limit=200").json["items"]) == 11


def test_refused_test_sends_do_not_count_toward_the_limit(api, plan_id, clock):
    api.post("/v1/events", {"events": [_event("c2", "blocked", 60)]})
    sent = 0
    for i in range(3 * TEST_SENDS_PER_HOUR):
        clock(timedelta(seconds=i))
        assert _test_send(api, plan_id, "c2").status_code == 409         # consent
        assert _test_send(api, plan_id, "ghost").status_code == 404      # no such customer
        r = _test_send(api, plan_id)
        sent += r.status_code == 200
        assert r.status_code == (200 if i < TEST_SENDS_PER_HOUR else 429)
    assert sent == TEST_SENDS_PER_HOUR
    clock(timedelta(minutes=60))    # the 429s took no slot either: the first slot frees on time
    assert _test_send(api, plan_id).status_code == 200


def test_a_test_send_whose_channel_crashes_gives_its_slot_back(api, plan_id, clock, monkeypatch):
    from chalicelib.delivery import worker

    class Broken:
        def send(self, messages):
            raise ConnectionError("channel down")

    real = worker.chans.channel_for
    monkeypatch.setattr(worker.chans, "channel_for", lambda name: Broken())
    for _ in range(3):
        assert _test_send(api, plan_id).status_code == 500
    monkeypatch.setattr(worker.chans, "channel_for", real)
    for _ in range(TEST_SENDS_PER_HOUR):
        assert _test_send(api, plan_id).status_code == 200
    assert _test_send(api, plan_id).status_code == 429


def test_concurrent_test_sends_never_exceed_the_limit(api, plan_id, atomic_moto):
    from chalicelib.domain.errors import RateLimited
    from chalicelib.services import plans

    def one(i: int) -> str:
        try:
            plans.test_send(api.seller_id, plan_id, "c1", f"user-{i}", T0)
            return "sent"
        except RateLimited:
            return "limited"

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = list(pool.map(one, range(24)))
    assert results.count("sent") == TEST_SENDS_PER_HOUR
    assert results.count("limited") == 24 - TEST_SENDS_PER_HOUR
    history = _history(api, plan_id)
    assert sorted(h["outcome"] for h in history) == sorted(
        ["delivered"] * TEST_SENDS_PER_HOUR + ["rate_limited"] * (24 - TEST_SENDS_PER_HOUR))
    assert {h["actor"] for h in history} == {f"user-{i}" for i in range(24)}


def test_every_test_send_is_in_the_plans_history_with_who_when_whom_and_outcome(api, plan_id,
                                                                               clock):
    api.post("/v1/events", {"events": [_event("c2", "unsubscribed", 5)]})
    clock(timedelta(seconds=1))
    sent = _test_send(api, plan_id).json
    clock(timedelta(seconds=2))
    assert _test_send(api, plan_id, "c2").status_code == 409
    clock(timedelta(seconds=3))
    assert _test_send(api.as_role("operator"), plan_id).status_code == 200
    history = _history(api.as_role("viewer"), plan_id)
    at = [(T0 + timedelta(seconds=s)).isoformat().replace("+00:00", "Z") for s in (3, 2, 1)]
    assert [(h["at"], h["actor"], h["action"], h["customer_id"], h["outcome"])
            for h in history] == [(at[0], "user-operator", "test_send", "c1", "delivered"),
                                  (at[1], "user-owner", "test_send", "c2", "unsubscribed"),
                                  (at[2], "user-owner", "test_send", "c1", "delivered")]
    assert history[2]["message_id"] == sent["message_id"]
    first = api.get(f"/v1/plans/{plan_id}/history?limit=2").json
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = api.get(f"/v1/plans/{plan_id}/history?limit=2&cursor={first['next_cursor']}").json
    assert rest["items"] == history[2:] and rest["next_cursor"] is None
    assert api.as_seller("s-other").get(f"/v1/plans/{plan_id}/history").status_code == 404
