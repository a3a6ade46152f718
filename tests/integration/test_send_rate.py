"""The shop's send rate (settings ``send_rate_per_minute``): at most that many messages in
any 60 seconds, all plans together, test sends excepted; nothing dropped or doubled, under
duplicate delivery, crashes and concurrent workers. Time runs 60× faster here (the pacing
clock and the SQS delays it asks for are scaled alike), so minutes of pacing take seconds."""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest

from chalicelib.domain.pacing import sent_within_limit
from tests.integration.delivery_support import SendLog, create_plan, run_pipeline, seed_followers

SPEED = 60


@pytest.fixture
def warp(monkeypatch):
    """The pacing clock at SPEED× real time; a delay of d paced seconds waits d/SPEED."""
    import math

    from chalicelib.delivery import pacing

    real0, fake0 = time.time(), 1_900_000_000_000

    def clock_ms() -> int:
        return fake0 + int((time.time() - real0) * 1000 * SPEED)

    def delay_seconds(retry_at_ms: int) -> int:
        return max(1, math.ceil((retry_at_ms - clock_ms()) / 1000 / SPEED))

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
    started = time.time()
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
    assert time.time() - started < 80


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

