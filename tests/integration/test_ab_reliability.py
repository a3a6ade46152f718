"""A/B tests under crashes and duplicates: every recipient gets exactly one message, the
sample's variant or the winner's, whatever happens, including between the decision and the
rest's dispatch. Each case: a duplicate timer, the timer racing POST /winner, a crash after
the decision is recorded and before the rest leaves, a crash mid-way through the rest's
release, a crash mid-snapshot, duplicate chunk messages; then random crashes everywhere."""

from __future__ import annotations

import threading
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration import test_reliability_delivery as reliability
from tests.integration.ab_support import (
    assert_each_got_one_message,
    by_variant,
    create_ab_plan,
    deliveries,
    fire_timer,
    variant_of_text,
)
from tests.integration.delivery_support import SendLog, pump, run_pipeline, seed_followers
from tests.integration.test_reliability_delivery import Crash, inject_crashes

fast_retries = reliability.fast_retries     # the fixture, shared


@pytest.fixture
def decisions(monkeypatch):
    """Every decision that landed (plans.record_decision's successful writes)."""
    from chalicelib.store import plans

    landed, original = [], plans.record_decision

    def record(seller_id, plan_id, decision):
        saved = original(seller_id, plan_id, decision)
        if saved is not None:
            landed.append(decision)
        return saved

    monkeypatch.setattr(plans, "record_decision", record)
    return landed


def _sweep(api, minutes: float) -> dict:
    from chalicelib.delivery import sweeper

    return sweeper.sweep(datetime.now(UTC) + timedelta(minutes=minutes), stuck_after_minutes=0,
                         seller_id=api.seller_id)


def _check_outcome(api, plan_id: str, ids, sends) -> str:
    """Everyone once; the sample kept its variant, the rest got the winner's; rows and
    by_variant agree. Returns the winner."""
    got = api.get(f"/v1/plans/{plan_id}").json
    assert got["status"] == "sent" and got["ab_test"]["status"] == "decided"
    winner = got["ab_test"]["winner"]
    texts = assert_each_got_one_message(api, plan_id, ids, sends)
    rows = [r for r in deliveries(api, plan_id) if r["status"] != "skipped"]
    assert len(rows) == len(ids)
    for row in rows:
        assert variant_of_text(texts[row["customer_id"]]) == row["variant"]
    perf = api.get(f"/v1/plans/{plan_id}/performance").json
    per_variant = Counter(row["variant"] for row in rows)
    assert {v: f["delivered"] for v, f in perf["by_variant"].items() if f["delivered"]} == per_variant
    assert sum(f["recipients"] for f in perf["by_variant"].values()) == len(ids)
    return winner


def test_a_duplicated_timer_decides_once_and_sends_the_rest_once(api, app, monkeypatch,
                                                                 decisions):
    from chalicelib.delivery import experiments

    ids = seed_followers(api, 16)
    sends = SendLog(monkeypatch)
    plan_id = create_ab_plan(api, sample_percent=50, wait_minutes=30)["plan_id"]
    run_pipeline(app, duplicate=True)
    for _ in range(3):          # the schedule's message, and copies of it
        experiments.enqueue_decide(api.seller_id, plan_id)
    fire_timer(31)
    run_pipeline(app, duplicate=True)
    for _ in range(2):          # late copies, after the decision and the rest
        experiments.enqueue_decide(api.seller_id, plan_id)
    run_pipeline(app, duplicate=True)
    assert len(decisions) == 1
    _check_outcome(api, plan_id, ids, sends)


def test_the_timer_racing_post_winner_decides_once(api, app, monkeypatch, atomic_moto,
                                                   decisions):
    from chalicelib.delivery import experiments
    from chalicelib.domain.errors import Conflict
    from chalicelib.domain.experiments import WinnerBody
    from chalicelib.services import plans

    ids = seed_followers(api, 12)
    sends = SendLog(monkeypatch)
    plan_id = create_ab_plan(api, sample_percent=50, wait_minutes=30)["plan_id"]
    run_pipeline(app)
    start, outcomes = threading.Barrier(4), []

    def timer():
        start.wait()
        outcomes.append(("timer", experiments.on_timer(api.seller_id, plan_id, datetime.now(UTC))))

    def by_hand():
        start.wait()
        try:
            won = plans.winner(api.seller_id, plan_id, WinnerBody(variant_id="b"), datetime.now(UTC))
            outcomes.append(("hand", won["ab_test"]["winner"]))
        except Conflict:
            outcomes.append(("hand", "409"))

    threads = [threading.Thread(target=f) for f in (timer, timer, timer, by_hand)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(decisions) == 1, outcomes
    hand = dict(outcomes)["hand"]
    winner = decisions[0]["winner"]
    if decisions[0]["by"] == "hand":
        assert hand == "b" == winner
    else:
        assert hand == "409" and winner == "a"     # no clicks: the first listed
    run_pipeline(app, duplicate=True)
    assert _check_outcome(api, plan_id, ids, sends) == winner


@pytest.mark.parametrize(("decided_by", "recovery"), [
    ("timer", "retry"), ("hand", "timer"), ("hand", "sweeper")])
def test_a_crash_after_the_decision_before_the_rest_leaves(api, app, monkeypatch, decisions,
                                                           decided_by, recovery):
    """The decision is recorded, then the process dies before the rest's chunk messages
    leave: the timer's message is retried (timer), the still-armed timer fires (after a
    decision by hand), or the sweeper queues a decide message; the rest goes once."""
    from chalicelib.delivery import experiments

    ids = seed_followers(api, 14)
    sends = SendLog(monkeypatch)
    plan_id = create_ab_plan(api, sample_percent=50, wait_minutes=30)["plan_id"]
    run_pipeline(app)
    original, crashed = experiments.release, []

    def release(plan, now):
        if not crashed:
            crashed.append(plan.plan_id)
            raise Crash("after the decision")
        return original(plan, now)

    monkeypatch.setattr(experiments, "release", release)
    if decided_by == "hand":
        r = api.post(f"/v1/plans/{plan_id}/winner", {"variant_id": "b"})
        assert r.status_code == 500 and r.json["error"]["code"] == "internal"
    else:
        fire_timer(31)
        pump(app, "dispatch")                     # fails once, then the retry releases
    assert crashed and len(decisions) == 1
    if recovery == "timer":
        fire_timer(31)
    elif recovery == "sweeper":
        assert _sweep(api, 1)["ab_nudged"] == []          # not yet past the decision time
        assert _sweep(api, 32)["ab_nudged"] == [plan_id]
    run_pipeline(app, duplicate=True)
    assert len(decisions) == 1
    assert _check_outcome(api, plan_id, ids, sends) == ("b" if decided_by == "hand" else "a")
    assert _sweep(api, 40)["ab_nudged"] == []


def test_a_crash_midway_through_the_rest_release(api, app, monkeypatch, decisions):
    from chalicelib.delivery import experiments
    from chalicelib.settings import settings

    monkeypatch.setattr(settings(), "delivery_chunk_size", 2)
    ids = seed_followers(api, 20)
    sends = SendLog(monkeypatch)
    plan_id = create_ab_plan(api, sample_percent=20, wait_minutes=30)["plan_id"]
    run_pipeline(app)
    original, crashed = experiments.send_chunks, []

    def send_chunks(seller_id, plan, numbers, **kw):
        if not crashed and len(numbers) > 1:      # half the rest's messages, then death
            crashed.append(numbers)
            original(seller_id, plan, numbers[:len(numbers) // 2], **kw)
            raise Crash("mid-release")
        return original(seller_id, plan, numbers, **kw)

    monkeypatch.setattr(experiments, "send_chunks", send_chunks)
    fire_timer(31)
    run_pipeline(app, duplicate=True)
    assert crashed and len(crashed[0]) == 8       # 16 in the rest, chunks of 2
    assert len(decisions) == 1
    _check_outcome(api, plan_id, ids, sends)


@pytest.mark.usefixtures("fast_retries")
def test_a_crash_midway_through_the_snapshot(api, app, monkeypatch, decisions):
    """The dispatcher dies after writing half the chunks (sample and rest are written in
    one snapshot); the retry takes the snapshot over and rewrites the same split."""
    from chalicelib.store import deliveries as delivery_store

    ids = seed_followers(api, 18)
    sends = SendLog(monkeypatch)
    original, crashed = delivery_store.put_chunks, []

    def put_chunks(chunks):
        if not crashed:
            crashed.append(len(chunks))
            original(chunks[:len(chunks) // 2])
            raise Crash("mid-snapshot")
        return original(chunks)

    monkeypatch.setattr(delivery_store, "put_chunks", put_chunks)
    plan_id = create_ab_plan(api, sample_percent=34, wait_minutes=30)["plan_id"]
    run_pipeline(app, duplicate=True)
    assert crashed == [6]                          # 18 of chunk size 3: 2+2 sample, 4 rest
    sample = by_variant(deliveries(api, plan_id))
    assert {v: len(c) for v, c in sample.items()} == {"a": 3, "b": 3}
    fire_timer(31)
    run_pipeline(app, duplicate=True)
    assert len(decisions) == 1
    _check_outcome(api, plan_id, ids, sends)


@pytest.mark.usefixtures("fast_retries")
@pytest.mark.parametrize("seed", [11, 4242])
def test_random_crashes_and_duplicates_through_the_whole_test(api, app, monkeypatch,
                                                              decisions, seed):
    from chalicelib.delivery import experiments, scheduling
    from chalicelib.store import plans

    ids = seed_followers(api, 18, blocked=(5,))
    eligible = [c for i, c in enumerate(ids) if i != 5]
    chaos = inject_crashes(monkeypatch, seed, rate=0.06)
    chaos.wrap(plans, "record_decision")
    chaos.wrap(experiments, "send_chunks")
    chaos.wrap(experiments, "enqueue_decide")
    chaos.wrap(scheduling, "schedule_decision")
    chaos.wrap(experiments, "sample_counts")
    # The plan is created with crashes off: a crashed POST is the client's to retry.
    chaos.enabled = False
    plan_id = create_ab_plan(api, sample_percent=25, wait_minutes=30,
                             variant_ids=("a", "b", "c"))["plan_id"]
    chaos.enabled = True
    for _ in range(8):
        run_pipeline(app, duplicate=True)
        fire_timer(31)
        try:
            _sweep(api, 32)
        except Crash:
            pass
        chaos.enabled = False
        done = api.get(f"/v1/plans/{plan_id}").json["status"] == "sent"
        chaos.enabled = True
        if done:
            break
    chaos.enabled = False
    run_pipeline(app)
    assert len(decisions) == 1
    _check_outcome(api, plan_id, eligible, chaos.sends)
    assert len(chaos.crashes) >= 3, chaos.crashes
