"""LIVE reminders go through the chunked delivery path (delivery/live_fanout.py): one
fan-out per LIVE, due lead_minutes before the start, cut into chunks of the audience and sent
by the delivery worker. Exactly one message per (live_id, customer) under a redelivered
live_started, duplicate chunk messages, and crashes mid-fan-out (the sweep's, the worker's)."""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest

from tests.integration import automated_support
from tests.integration.automated_support import (
    Crash,
    customer,
    deliveries,
    ev,
    events,
    inbox,
    now,
    performance,
    plan,
)
from tests.integration.delivery_support import run_pipeline, seed_followers

MIN = timedelta(minutes=1)
# The fixture, bound here so pytest finds it (an import would read as unused to ruff).
channel_log = automated_support.channel_log


@pytest.fixture
def small_chunks(monkeypatch):
    from chalicelib.settings import settings

    monkeypatch.setattr(settings(), "delivery_chunk_size", 3)


def live_plan(api, count: int = 8) -> tuple[str, list[str]]:
    ids = seed_followers(api, count, blocked=(1,), prefix="lv")
    customer(api, "stranger")
    p = plan(api, {"type": "live_reminder", "lead_minutes": 10},
             audience={"segment_ids": ["new_followers"]})
    return p["plan_id"], ids


def started(api, live_id: str = "live-1", eid: str = "L1") -> None:
    events(api, ev("live_started", None, eid, live_id=live_id,
                   starts_at=(now() + 5 * MIN).isoformat()))     # inside the lead: due at once


def assert_once_each(api, pid: str, ids: list[str], channel_log: Counter) -> None:
    rows = {d["customer_id"]: (d["status"], d.get("reason"), d["occurrence"])
            for d in deliveries(api, pid)}
    assert rows == {c: (("skipped", "blocked") if c == ids[1] else ("delivered", None))
                    + (f"live#live-1#{c}",) for c in ids}
    mine = {k: n for k, n in channel_log.items() if k.startswith(pid)}
    assert len(mine) == len(ids) - 1 and set(mine.values()) == {1}
    assert all(len(inbox(api, c, pid)) == (0 if c == ids[1] else 1) for c in ids)
    perf = performance(api, pid)
    assert (perf["triggered"], perf["recipients"], perf["delivered"], perf["skipped"]["blocked"]) \
        == (len(ids), len(ids), len(ids) - 1, 1)


def test_a_live_reminder_is_one_fan_out_sent_in_chunks_by_the_delivery_worker(
        api, app, small_chunks, channel_log):
    from chalicelib.delivery import timers
    from chalicelib.store import deliveries as delivery_store

    pid, ids = live_plan(api)
    started(api)
    run_pipeline(app)
    assert performance(api, pid)["triggered"] == 0        # the audience is read when due
    assert timers.sweep(now()).get("fanned_out") == len(ids)
    chunks = list(delivery_store.ChunkItem.query(delivery_store.plan_pk(api.seller_id, pid)))
    assert sorted(len(c.recipients) for c in chunks) == [2, 3, 3]
    run_pipeline(app)                                      # the delivery worker sends
    assert_once_each(api, pid, ids, channel_log)
    # Engagement reaches the message like any automated one.
    events(api, ev("message_read", ids[0], "r1", plan_id=pid))
    run_pipeline(app)
    assert performance(api, pid)["read"] == 1


def test_members_reached_after_the_live_started_are_skipped_exited(
        api, app, small_chunks, channel_log):
    """API.md: a reminder goes out only if ``starts_at`` has not passed when it is due. A
    delivery worker that reaches the fan-out's chunks after the start (a backed-up queue;
    with ``lead_minutes: 0``, always) sends none: each member is skipped ``exited`` (the
    blocked one stays ``blocked``, first in the order), and each is counted."""
    from chalicelib.delivery import timers, worker
    from chalicelib.store import deliveries as delivery_store

    pid, ids = live_plan(api)
    started(api)                                           # starts in 5 minutes
    run_pipeline(app)
    assert timers.sweep(now()).get("fanned_out") == len(ids)
    late = now() + 6 * MIN
    for chunk in delivery_store.ChunkItem.query(delivery_store.plan_pk(api.seller_id, pid)):
        assert worker.deliver_chunk(api.seller_id, pid, int(chunk.chunk), late) == "delivered"
    run_pipeline(app)                                      # the chunk messages: already done
    rows = {d["customer_id"]: (d["status"], d.get("reason"), d["occurrence"])
            for d in deliveries(api, pid)}
    assert rows == {c: ("skipped", "blocked" if c == ids[1] else "exited", f"live#live-1#{c}")
                    for c in ids}
    assert not [k for k in channel_log if k.startswith(pid)]
    assert all(inbox(api, c, pid) == [] for c in ids)
    perf = performance(api, pid)
    assert (perf["triggered"], perf["recipients"], perf["delivered"], perf["skipped"]["exited"],
            perf["skipped"]["blocked"]) == (len(ids), len(ids), 0, len(ids) - 1, 1)


def test_a_redelivered_live_started_and_duplicate_chunk_messages_send_once_each(
        api, app, small_chunks, channel_log):
    from chalicelib.delivery import timers

    pid, ids = live_plan(api)
    started(api)
    started(api, eid="L1-again")                # the same LIVE announced twice
    run_pipeline(app, duplicate=True)
    timers.sweep(now())
    timers.sweep(now())
    run_pipeline(app, duplicate=True)           # every chunk message handled twice and re-sent
    timers.sweep(now())
    run_pipeline(app, duplicate=True)
    assert_once_each(api, pid, ids, channel_log)


def test_a_sweep_dying_after_writing_the_chunks_fans_out_again_and_sends_once(
        api, app, small_chunks, channel_log, monkeypatch):
    from chalicelib.delivery import live_fanout, timers

    pid, ids = live_plan(api)
    started(api)
    run_pipeline(app)
    real = live_fanout.send_chunks
    sent_some = {"n": 0}

    def dies_after_the_first(seller_id, plan_id, numbers, **kwargs):
        real(seller_id, plan_id, numbers[:1], **kwargs)
        sent_some["n"] += 1
        raise Crash("after one chunk message")

    monkeypatch.setattr(live_fanout, "send_chunks", dies_after_the_first)
    with pytest.raises(Crash):
        timers.sweep(now())
    run_pipeline(app)                           # the one chunk that left is delivered
    assert 0 < len(deliveries(api, pid)) < len(ids)
    monkeypatch.setattr(live_fanout, "send_chunks", real)
    assert timers.sweep(now()).get("fanned_out") == len(ids)   # still pending: fanned out again
    run_pipeline(app)
    assert timers.sweep(now()) == {}            # nothing left anywhere
    assert_once_each(api, pid, ids, channel_log)


@pytest.mark.parametrize("where", ["create_all", "finish_all", "send"])
def test_a_worker_dying_mid_chunk_loses_no_member_and_sends_none_twice(
        api, app, small_chunks, channel_log, monkeypatch, where):
    """The worker dies twice, at the given call (creating a chunk's occurrences, finishing
    one, or at the channel, just after it took the messages): the chunk's retry, or a later
    sweep once the claims ran out, sends the rest. A key the channel took just before a crash
    is the only one that may go again (same key: the inbox holds one)."""
    from chalicelib.delivery import channels, timers
    from chalicelib.store import occurrences

    pid, ids = live_plan(api)
    started(api)
    run_pipeline(app)
    owner = channels.LocalChat if where == "send" else occurrences
    real = getattr(owner, where)
    calls = Counter()
    excused: Counter[str] = Counter()
    before = Counter(channel_log)

    def dies_once_per_call_site(*args, **kwargs):
        calls["n"] += 1
        dies = calls["n"] in ((1, 3) if where == "send" else (2, 5))
        if where == "send":
            result = real(*args, **kwargs)   # the channel took them, then the worker died
            if dies:
                excused.update(m.key for m in args[1])
                raise Crash(where)
            return result
        if dies:
            # What the channel took in the attempt that dies now goes again on its retry.
            excused.update(k for k in channel_log if channel_log[k] > before[k])
            before.update(channel_log - before)
            raise Crash(where)
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, where, dies_once_per_call_site)
    for round_ in range(4):     # failed chunk messages retry; claims run out; sweeps finish
        try:
            timers.sweep(now() + timedelta(minutes=3 * round_))
        except Crash:           # the sweep died too (finishing the fan-out)
            pass
        run_pipeline(app)
    rows = {d["customer_id"]: d["status"] for d in deliveries(api, pid)}
    assert sorted(rows) == ids
    assert all(len(inbox(api, c, pid)) == (0 if c == ids[1] else 1) for c in ids)
    for key, n in channel_log.items():
        if key.startswith(pid):
            assert n <= 1 + excused[key], (key, n)
    perf = performance(api, pid)
    assert (perf["triggered"], perf["delivered"]) == (len(ids), len(ids) - 1)
