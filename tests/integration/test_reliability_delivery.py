"""DESIGN.md "Reliability", proven: duplicate SQS deliveries and crashes at random points
mid-batch still give every eligible customer exactly one message and counters equal to
the ground truth; a cancel stops every chunk not yet sent; a schedule firing after a
cancel does nothing."""

from __future__ import annotations

import random
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.delivery_support import (
    ScriptedContext,
    SendLog,
    create_plan,
    engagement,
    iso,
    pump,
    run_pipeline,
    seed_followers,
)


class Crash(Exception):
    """An injected crash (the process 'dies' here)."""


class Chaos:
    """Wraps functions so that, with a seeded probability, a call crashes before doing its
    work or right after doing it (the most dangerous spot: the effect happened, the caller
    never learns)."""

    def __init__(self, monkeypatch, seed: int, rate: float) -> None:
        self.monkeypatch, self.rng, self.rate = monkeypatch, random.Random(seed), rate
        self.crashes: Counter[str] = Counter()
        self.enabled = True
        self.sends: SendLog | None = None

    def wrap(self, owner, name: str) -> None:
        original = getattr(owner, name)
        label = f"{getattr(owner, '__name__', type(owner).__name__)}.{name}"

        def flaky(*args, **kwargs):
            if self.enabled and self.rng.random() < self.rate:
                self.crashes[label + ":before"] += 1
                raise Crash(label)
            result = original(*args, **kwargs)
            if self.enabled and self.rng.random() < self.rate:
                self.crashes[label + ":after"] += 1
                raise Crash(label)
            return result

        self.monkeypatch.setattr(owner, name, flaky)


@pytest.fixture
def fast_retries(monkeypatch):
    """Small chunks, a 1 s lease, and no DLQ: with crashes this frequent a message may fail
    five times in a row, and the DLQ is not what this test is about."""
    import json

    from chalicelib.settings import settings
    from chalicelib.store import queues
    from chalicelib.store.aws import client

    monkeypatch.setattr(settings(), "delivery_chunk_size", 3)
    monkeypatch.setattr(settings(), "delivery_lease_seconds", 1)
    sqs, saved = client("sqs"), {}
    for short in ("dispatch", "delivery", "events", "metrics"):
        url = queues.url(short)
        policy = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])[
            "Attributes"]["RedrivePolicy"]
        saved[url] = policy
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": json.dumps(
            {**json.loads(policy), "maxReceiveCount": "1000"})})
    yield
    for url, policy in saved.items():
        sqs.set_queue_attributes(QueueUrl=url, Attributes={"RedrivePolicy": policy})


def inject_crashes(monkeypatch, seed: int, rate: float) -> Chaos:
    from chalicelib.delivery import channels, dispatch, engagement, worker
    from chalicelib.store import deliveries, inbox, plan_stats

    chaos = Chaos(monkeypatch, seed, rate)
    # Sends are counted at the channel, inside the crashes (a crash "after" the send counts).
    chaos.sends = SendLog(monkeypatch)
    # A worker that dies never releases its claim: only the lease lets a retry take over.
    monkeypatch.setattr(worker, "_release", lambda chunk, now_ms, progress=None: None)
    chaos.wrap(channels.LocalChat, "send")
    chaos.wrap(inbox, "put_messages")
    chaos.wrap(deliveries, "claim")
    chaos.wrap(deliveries, "finish")
    chaos.wrap(deliveries, "hand_back")
    chaos.wrap(deliveries, "put_rows")
    chaos.wrap(deliveries, "put_chunks")
    chaos.wrap(plan_stats, "mark_chunk_done")
    chaos.wrap(plan_stats, "record_snapshot")
    chaos.wrap(plan_stats, "apply_facts")
    chaos.wrap(worker, "send_facts")
    chaos.wrap(engagement, "send_facts")
    chaos.wrap(dispatch, "send_chunks")
    chaos.wrap(plan_stats, "get_part")
    chaos.wrap(plan_stats, "begin_dispatch")
    return chaos


@pytest.mark.parametrize(("seed", "short_of_time"), [(7, False), (2024, False), (99, True)])
def test_duplicates_and_crashes_give_each_customer_exactly_one_message(
        api, app, monkeypatch, fast_retries, seed, short_of_time):
    """With ``short_of_time``, every invocation also runs out of Lambda time after two
    channel calls (one message each), so chunks are handed back mid-way as well (while
    the crashes go on)."""
    ids = seed_followers(api, 20, blocked=(2,), unsubscribed=(7, 11))
    skipped = {ids[2], ids[7], ids[11]}
    eligible = [c for c in ids if c not in skipped]
    chaos = inject_crashes(monkeypatch, seed, rate=0.06)
    if short_of_time:
        from chalicelib.delivery import channels
        from chalicelib.local import pollers

        monkeypatch.setattr(channels.LocalChat, "slice_size", 1)
        monkeypatch.setattr(pollers, "LambdaContext",
                            lambda: ScriptedContext(chaos.sends, budget_ms=30_000, cost_ms=8_000))
    plan = create_plan(api)
    plan_id = plan["plan_id"]
    # Hand-backs re-queue chunks as new messages; copying each of those too multiplies the
    # messages without testing anything more, so that variant has crashes and hand-backs only.
    run_pipeline(app, duplicate=not short_of_time)

    chaos.enabled = False
    assert api.get(f"/v1/plans/{plan_id}").json["status"] == "sent"
    for cid in ids:
        inbox = [m for m in api.get(f"/v1/customers/{cid}/inbox").json["items"]
                 if m["plan_id"] == plan_id]
        assert len(inbox) == (0 if cid in skipped else 1), cid
    # Counted at the channel: every eligible customer was sent to, the skipped never, and no
    # key went out twice except right after a crash that hid the first send from the worker.
    sent = chaos.sends.per_customer(plan_id)
    assert set(sent) == set(eligible)
    assert not chaos.sends.duplicates()

    # Engagement, each delivered twice and some repeated with new event ids: counted once.
    chaos.enabled = True
    readers, clickers = eligible[:8], eligible[:3]
    for cid in readers:
        engagement(api, plan_id, cid, "message_read")
        engagement(api, plan_id, cid, "message_read", suffix="-again")
    for cid in clickers:
        engagement(api, plan_id, cid, "message_clicked")
    engagement(api, plan_id, ids[2], "message_read")        # blocked: never delivered
    engagement(api, plan_id, eligible[0], "message_replied")
    engagement(api, plan_id, eligible[1], "voucher_claimed", voucher_id="v1")
    now = datetime.now(UTC)
    for n, cid in enumerate(clickers):
        r = api.post("/v1/events", {"events": [{
            "event_id": f"{cid}-order", "type": "order_paid", "customer_id": cid,
            "occurred_at": iso(now + timedelta(seconds=1)), "order_id": f"o-{cid}",
            "amount": f"{10 + n}.50", "currency": "THB"}]})
        assert r.status_code == 202
    run_pipeline(app, duplicate=True)
    chaos.enabled = False

    perf = api.get(f"/v1/plans/{plan_id}/performance").json
    assert perf["recipients"] == 20
    assert perf["delivered"] == len(eligible) and perf["failed"] == 0
    assert perf["skipped"]["blocked"] == 1 and perf["skipped"]["unsubscribed"] == 2
    assert perf["read"] == len(readers)
    assert perf["clicked"] == len(clickers)
    assert perf["replied"] == 1 and perf["vouchers_claimed"] == 1
    assert perf["orders"] == len(clickers)
    assert perf["gmv"] == f"{sum(10.5 + n for n in range(len(clickers))):.2f}"
    assert len(chaos.crashes) >= 3, "too few crash points were hit: the test proved little"
    if short_of_time:
        assert chaos.sends.outcomes["handed_back"] >= 3, chaos.sends.outcomes


def test_duplicate_deliveries_send_each_key_once_at_the_channel(api, app, monkeypatch,
                                                                fast_retries):
    """No crash at all, every SQS message handled twice and re-sent as a copy: the channel is
    asked exactly once per key (the inbox alone could not tell, it overwrites)."""
    ids = seed_followers(api, 9)
    sends = SendLog(monkeypatch)
    plan_id = create_plan(api)["plan_id"]
    run_pipeline(app, duplicate=True)
    assert sends.per_customer(plan_id) == Counter({cid: 1 for cid in ids})
    assert not sends.excused


def test_cancel_while_in_progress_sends_nothing_after_the_cancel(api, app, monkeypatch):
    from chalicelib.settings import settings

    monkeypatch.setattr(settings(), "delivery_chunk_size", 2)
    sends = SendLog(monkeypatch)
    ids = seed_followers(api, 10)
    plan = create_plan(api)
    plan_id = plan["plan_id"]
    pump(app, "dispatch")
    # Deliver exactly one chunk, then cancel with the rest still queued.
    from chalicelib.delivery import worker

    assert worker.deliver_chunk(api.seller_id, plan_id, 0, datetime.now(UTC)) == "delivered"
    assert api.post(f"/v1/plans/{plan_id}/cancel").json["status"] == "cancelled"
    run_pipeline(app, duplicate=True)

    got = {cid: len(api.get(f"/v1/customers/{cid}/inbox").json["items"]) for cid in ids}
    assert sum(got.values()) == 2          # only chunk 0, sent before the cancel
    assert sum(sends.per_customer(plan_id).values()) == 2      # and asked of the channel once
    assert api.get(f"/v1/plans/{plan_id}").json["status"] == "cancelled"
    rows = api.get(f"/v1/plans/{plan_id}/deliveries?status=skipped&limit=200").json["items"]
    assert {r["reason"] for r in rows} == {"cancelled"} and len(rows) == 8
    perf = api.get(f"/v1/plans/{plan_id}/performance").json
    assert perf["delivered"] == 2 and perf["skipped"]["cancelled"] == 8


def test_schedule_firing_after_cancel_does_nothing(api, app):
    from chalicelib.delivery import dispatch
    from chalicelib.local.scheduler import fire_due

    ids = seed_followers(api, 3)
    later = datetime.now(UTC) + timedelta(hours=2)
    plan = create_plan(api, send_at=iso(later))
    assert plan["status"] == "scheduled"
    assert api.post(f"/v1/plans/{plan['plan_id']}/cancel").json["status"] == "cancelled"
    fire_due(later + timedelta(minutes=1))     # nothing left to fire: the schedule is gone
    # Even a dispatch message that slipped through (fired just before the delete) is inert.
    assert dispatch.dispatch(api.seller_id, plan["plan_id"], later) == "ignored"
    run_pipeline(app)
    assert all(not api.get(f"/v1/customers/{c}/inbox").json["items"] for c in ids)
    assert api.get(f"/v1/plans/{plan['plan_id']}").json["status"] == "cancelled"


def test_duplicate_dispatch_of_a_dispatched_plan_changes_nothing(api, app, monkeypatch):
    from chalicelib.delivery import dispatch

    ids = seed_followers(api, 4)
    sends = SendLog(monkeypatch)
    plan = create_plan(api)
    run_pipeline(app)
    assert dispatch.dispatch(api.seller_id, plan["plan_id"], datetime.now(UTC)) == "ignored"
    dispatch.enqueue(api.seller_id, plan["plan_id"])
    run_pipeline(app)
    assert all(len(api.get(f"/v1/customers/{c}/inbox").json["items"]) == 1 for c in ids)
    assert sends.per_customer(plan["plan_id"]) == Counter({c: 1 for c in ids})


def test_two_workers_racing_for_one_chunk_send_it_once(api, app, monkeypatch):
    import threading

    from chalicelib.delivery import channels, worker
    from chalicelib.local.moto_fixes import atomic_item_writes
    from chalicelib.settings import settings

    # DynamoDB applies a conditional write atomically per item; moto needs a lock for that.
    atomic_item_writes(monkeypatch.setattr)
    monkeypatch.setattr(settings(), "delivery_chunk_size", 50)
    ids = seed_followers(api, 6)
    plan = create_plan(api)
    pump(app, "dispatch")
    sends = Counter()
    original = channels.LocalChat.send
    gate = threading.Barrier(2)

    def counted(self, messages):
        sends.update(m.key for m in messages)
        return original(self, messages)

    monkeypatch.setattr(channels.LocalChat, "send", counted)
    outcomes = []

    def race():
        gate.wait()
        try:
            outcomes.append(worker.deliver_chunk(api.seller_id, plan["plan_id"], 0,
                                                 datetime.now(UTC)))
        except worker.ChunkBusy:
            outcomes.append("busy")

    threads = [threading.Thread(target=race) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(outcomes) in (["busy", "delivered"], ["already_done", "delivered"])
    assert len(sends) == 6 and set(sends.values()) == {1}
    run_pipeline(app)
    assert all(len(api.get(f"/v1/customers/{c}/inbox").json["items"]) == 1 for c in ids)


@pytest.mark.parametrize("seed", [11])
def test_duplicates_and_crashes_charge_each_delivered_sms_once_and_release_the_rest_once(
        api, app, monkeypatch, fast_retries, seed):
    """The fault injection above, on an order notice over chat and SMS, with crashes around
    the charges and the release as well: the money comes out exact."""
    from decimal import Decimal

    from chalicelib.delivery import channels, notices
    from chalicelib.store import billing
    from tests.integration.notice_support import (
        assert_ledger_sums,
        cost_from_ledger,
        ledger,
        notice_body,
        seed_orders,
        topup,
    )

    orders = seed_orders(api, 10, no_phone=(3,), blocked=(5,), unsubscribed=(9,))
    topup(api, "1")
    chaos = inject_crashes(monkeypatch, seed, rate=0.06)
    sms_sends: Counter[str] = Counter()
    original = channels.LocalPhone.send

    def counted(self, messages):
        sms_sends.update(m.key for m in messages)
        return original(self, messages)

    monkeypatch.setattr(channels.LocalPhone, "send", counted)
    chaos.wrap(channels.LocalPhone, "send")
    chaos.wrap(billing, "charge")
    chaos.wrap(billing, "release")
    chaos.wrap(notices, "finish")
    # Whatever the seed does, the first charge and the first release each land and then
    # "crash" before their caller learns it (the most dangerous spot for money).
    forced: Counter[str] = Counter()
    for name in ("charge", "release"):
        landed_once = getattr(billing, name)

        def once_then_crash(*args, _name=name, _real=landed_once, **kwargs):
            result = _real(*args, **kwargs)
            if result is not None and result is not False and not forced[_name]:
                forced[_name] += 1
                raise Crash(f"after {_name}")
            return result

        monkeypatch.setattr(billing, name, once_then_crash)
    chaos.enabled = False
    plan = api.post("/v1/plans", notice_body(orders))
    assert plan.status_code == 201, plan.json
    pid = plan.json["plan_id"]
    chaos.enabled = True
    run_pipeline(app, duplicate=True)
    chaos.enabled = False

    assert api.get(f"/v1/plans/{pid}").json["status"] == "sent"
    paid = [o for i, o in enumerate(orders) if i not in (3, 5, 9)]        # 7 SMS
    assert {k.split("#")[1] for k in sms_sends} == set(paid)
    for customer in ("nc000", "nc003", "nc005"):
        inbox = api.get(f"/v1/customers/{customer}/inbox").json["items"]
        assert sorted(m["channel"] for m in inbox) == {"nc000": ["chat", "sms"], "nc003": ["chat"],
                                                       "nc005": []}[customer]
    billing_now = assert_ledger_sums(api)
    assert billing_now["reserved"] == "0.000"
    assert cost_from_ledger(api, pid) == Decimal("0.035") * len(paid)
    assert billing_now["balance"] == f"{Decimal(1) - Decimal('0.035') * len(paid):.3f}"
    assert api.get(f"/v1/plans/{pid}/performance").json["cost"] == f"{Decimal('0.035') * len(paid):.3f}"
    kinds = Counter(e["kind"] for e in ledger(api) if e.get("plan_id") == pid)
    assert kinds["reserve"] == 1 and kinds["release"] <= 1
    assert len(chaos.crashes) >= 3, chaos.crashes
    assert forced == {"charge": 1, "release": 1}     # each died once right after landing
