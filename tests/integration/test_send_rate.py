"""The shop's send rate (settings ``send_rate_per_minute``): at most that many messages in
any 60 seconds, all plans together, test sends excepted; nothing dropped or doubled, under
duplicate delivery, crashes and concurrent workers. The pacing clock here is virtual: it
stands still while workers reserve and send, and jumps to the second a paced chunk asked to
come back at (whose SQS delay is then none), so minutes of pacing take seconds and every
send time is read off the same clock the reservations used."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from chalicelib.domain.pacing import sent_within_limit
from tests.integration.delivery_support import SendLog, create_plan, run_pipeline, seed_followers


@pytest.fixture
def warp(monkeypatch):
    """The virtual pacing clock: still, until a paced chunk's delay moves it to its retry."""
    from chalicelib.delivery import pacing

    now = {"ms": 1_900_000_000_000}
    lock = threading.Lock()

    def clock_ms() -> int:
        return now["ms"]

    def delay_seconds(retry_at_ms: int) -> int:
        with lock:
            now["ms"] = max(now["ms"], retry_at_ms)
        return 0

    monkeypatch.setattr(pacing, "clock_ms", clock_ms)
    monkeypatch.setattr(pacing, "delay_seconds", delay_seconds)
    return clock_ms


@pytest.fixture
def send_times(monkeypatch, warp):
    """The paced clock at every message handed to the local chat channel (test sends apart)."""
    from chalicelib.delivery import channels

    times: list[tuple[str, int]] = []
    original = channels.LocalChat.send

    def send(self, messages):
        at = warp()
        times.extend((m.key, at) for m in messages if not m.test)
        return original(self, messages)

    monkeypatch.setattr(channels.LocalChat, "send", send)
    return times


def _until_sent(api, app, plan_ids, duplicate=False, timeout_s=90):
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        run_pipeline(app, duplicate=duplicate)
        if all(api.get(f"/v1/plans/{p}").json["status"] == "sent" for p in plan_ids):
            run_pipeline(app)
            return
        time.sleep(0.2)
    raise AssertionError("paced plans never finished")


def test_settings_take_a_send_rate_of_1_to_100000_or_null(api):
    for ok in (1, 300, 100_000, None):
        r = api.put("/v1/settings", {"send_rate_per_minute": ok})
        assert r.status_code == 200 and r.json["send_rate_per_minute"] == ok
    for bad in (0, 100_001, 2.5, "300", True):
        r = api.put("/v1/settings", {"send_rate_per_minute": bad})
        assert r.status_code == 400, bad
        assert r.json["error"]["details"][0]["path"] == "send_rate_per_minute"
    assert api.put("/v1/settings", {}).json["send_rate_per_minute"] is None


def test_paced_plans_under_duplicate_delivery_and_a_crash_send_each_message_once_within_the_rate(
        api, app, monkeypatch, send_times):
    from chalicelib.delivery import channels
    from chalicelib.settings import settings

    monkeypatch.setattr(settings(), "delivery_chunk_size", 4)
    rate = 5
    assert api.put("/v1/settings", {"send_rate_per_minute": rate}).status_code == 200
    ids = seed_followers(api, 9)
    sends = SendLog(monkeypatch)
    crashed = []
    counting = channels.LocalChat.send

    def crash_once(self, messages):   # the channel fails once after the first slice went out
        if len(sends.sends) >= 3 and not crashed:
            crashed.append(True)
            raise RuntimeError("channel crashed")
        return counting(self, messages)

    monkeypatch.setattr(channels.LocalChat, "send", crash_once)
    first = create_plan(api)
    second = create_plan(api)                 # the same shop: one rate for both plans
    # a test send goes at once, whatever the rate
    assert api.post(f"/v1/plans/{first['plan_id']}/test-send",
                    {"customer_id": ids[0]}).status_code == 200
    _until_sent(api, app, [first["plan_id"], second["plan_id"]], duplicate=True)
    assert crashed
    assert not sends.duplicates()
    for plan in (first, second):
        assert sends.per_customer(plan["plan_id"]) == Counter({cid: 1 for cid in ids})
        perf = api.get(f"/v1/plans/{plan['plan_id']}/performance").json
        assert (perf["recipients"], perf["delivered"]) == (9, 9)
        for cid in ids:
            assert sum(m["plan_id"] == plan["plan_id"] and not m["test"]
                       for m in api.get(f"/v1/customers/{cid}/inbox").json["items"]) == 1
    times = [t for _, t in send_times]
    assert len(times) >= 18
    assert sent_within_limit(times, rate)
    # 18 messages at 5 per (62 s of) paced time take at least three more windows
    assert max(times) - min(times) >= 3 * 60_000


def test_concurrent_workers_never_take_more_than_the_rate(atomic_moto, seller):
    """16 threads reserving for one shop at once, with one fixed clock: each second's grants
    add up to at most the rate, and the 62-bucket span holds no more."""
    from chalicelib.store import pacing as store

    rate, now_ms = 40, 1_900_000_000_000
    granted: list[int] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(6):
            grant = store.reserve(seller, 3, rate, now_ms)
            with lock:
                granted.append(grant.granted)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sum(granted) == rate                       # exactly the room, never more
    assert store.reserve(seller, 1, rate, now_ms + 61_000).granted == 0
    assert store.reserve(seller, 1, rate, now_ms + 62_000).granted == 1


def test_without_a_rate_nothing_is_paced(api, app, send_times):
    seed_followers(api, 6)
    plan = create_plan(api)
    run_pipeline(app)
    assert api.get(f"/v1/plans/{plan['plan_id']}").json["status"] == "sent"
    assert len(send_times) == 6



def test_workers_racing_over_the_chunks_of_a_paced_plan_stay_within_the_rate(
        api, app, monkeypatch, atomic_moto, send_times):
    """Three workers at once, each driving its own chunk (and a fourth re-running them all,
    a duplicate delivery): the real channel calls, at the paced clock, never exceed the rate
    in any 60 s, and every recipient gets one message."""
    from datetime import UTC, datetime

    from chalicelib.delivery import dispatch, worker
    from chalicelib.settings import settings
    from chalicelib.store import deliveries
    from chalicelib.store.aws import client

    monkeypatch.setattr(settings(), "delivery_chunk_size", 4)
    rate = 5
    assert api.put("/v1/settings", {"send_rate_per_minute": rate}).status_code == 200
    ids = seed_followers(api, 12)
    sends = SendLog(monkeypatch)
    plan = create_plan(api, action="draft")
    api.post(f"/v1/plans/{plan['plan_id']}/send")
    seller, plan_id = api.seller_id, plan["plan_id"]
    assert dispatch.dispatch(seller, plan_id, datetime.now(UTC)) == "dispatched"
    errors: list[BaseException] = []

    def drive(numbers: list[int]) -> None:
        try:
            deadline = time.time() + 60
            while time.time() < deadline:
                chunks = [deliveries.get_chunk(seller, plan_id, n) for n in numbers]
                todo = [c for c in chunks if c.status not in ("done", "cancelled")]
                if not todo:
                    return
                for chunk in todo:
                    try:
                        worker.deliver_chunk(seller, plan_id, int(chunk.chunk),
                                             datetime.now(UTC), gen=int(chunk.gen or 0))
                    except worker.ChunkBusy:
                        pass          # the other worker holds it: like SQS, try later
                time.sleep(0.05)
            raise AssertionError("chunks never finished")
        except BaseException as exc:  # noqa: BLE001 (reported by the test thread)
            errors.append(exc)

    threads = [threading.Thread(target=drive, args=([n],)) for n in range(3)]
    threads.append(threading.Thread(target=drive, args=([0, 1, 2],)))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    client("sqs").purge_queue(QueueUrl=client("sqs").get_queue_url(
        QueueName=settings().queue_name("delivery"))["QueueUrl"])   # our own re-queues
    run_pipeline(app)
    assert api.get(f"/v1/plans/{plan_id}").json["status"] == "sent"
    assert not sends.duplicates()
    assert sends.per_customer(plan_id) == Counter({cid: 1 for cid in ids})
    times = [t for key, t in send_times if key.startswith(plan_id)]
    assert len(times) == 12 and sent_within_limit(times, rate)
    assert api.get(f"/v1/plans/{plan_id}/performance").json["delivered"] == 12
