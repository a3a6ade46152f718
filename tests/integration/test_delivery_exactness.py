"""Delivery exactness at the edges of a chunk's life (issue 9, point 5): engagement that
arrives before the delivery rows exist, a worker running out of Lambda time, a plan left
``in_progress`` by a crash before its dispatch message left, and a DLQ moved back."""

from __future__ import annotations

import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.delivery_support import (
    ScriptedContext,
    SendLog,
    create_plan,
    iso,
    pump,
    run_pipeline,
    seed_followers,
)

# ----- engagement between the channel send and the delivery row ---------------------------


def _engage_now(api, app, plan_id: str, readers: list[str], buyer: str, suffix: str = "") -> None:
    """Reads by ``readers`` and a paid order by ``buyer`` (a reader), ingested and run through
    the events queue (engagement) at once."""
    now = datetime.now(UTC)
    events = [{"event_id": f"{cid}-read{suffix}", "type": "message_read", "customer_id": cid,
               "occurred_at": iso(now), "plan_id": plan_id} for cid in readers]
    events.append({"event_id": f"{buyer}-order", "type": "order_paid", "customer_id": buyer,
                   "occurred_at": iso(now + timedelta(seconds=1)), "order_id": f"o-{buyer}",
                   "amount": "42.50", "currency": "THB"})
    r = api.post("/v1/events", {"events": events})
    assert r.status_code == 202 and not r.json["rejected"], r.json
    pump(app, "events")


@pytest.mark.parametrize("window", ["after_channel_send", "after_chunk_recorded"])
def test_engagement_arriving_before_the_delivery_row_is_counted_once(api, app, monkeypatch,
                                                                     window):
    """The recipient reads (and buys) while the worker is between the channel call and the
    delivery rows: after the channel returned, or after the chunk's outcome was recorded but
    before its rows were written. Each counts exactly once, even when repeated later."""
    from chalicelib.delivery import channels
    from chalicelib.store import deliveries

    ids = seed_followers(api, 4)
    plan_id = create_plan(api)["plan_id"]
    readers, buyer = ids[:3], ids[0]
    injected = []

    def inject():
        if not injected:
            injected.append(True)
            _engage_now(api, app, plan_id, readers, buyer)
            rows = deliveries.get_rows(api.seller_id, [(plan_id, c) for c in ids])
            assert not rows, "the window is gone: rows already exist"

    if window == "after_channel_send":
        original_send = channels.LocalChat.send

        def send_then_engage(self, messages):
            result = original_send(self, messages)
            inject()
            return result

        monkeypatch.setattr(channels.LocalChat, "send", send_then_engage)
    else:
        original_rows = deliveries.put_rows

        def engage_then_rows(seller_id, plan_id_, outcomes, chunk, sent_at):
            if chunk is not None:
                inject()
            return original_rows(seller_id, plan_id_, outcomes, chunk, sent_at)

        monkeypatch.setattr(deliveries, "put_rows", engage_then_rows)
    run_pipeline(app)
    assert injected
    # The same engagement again (new event ids), now that the rows exist: nothing more.
    _engage_now(api, app, plan_id, readers, buyer, suffix="-again")
    run_pipeline(app)

    perf = api.get(f"/v1/plans/{plan_id}/performance").json
    assert perf["delivered"] == 4
    assert perf["read"] == len(readers)
    assert (perf["orders"], perf["gmv"]) == (1, "42.50")
    # The overview's rollups too (parked facts reach them through the chunk's settle).
    body = api.get("/v1/overview?days=1").json
    assert body["funnel"] == {"reached": 4, "read": 3, "clicked": 0, "ordered": 1}
    assert (body["gmv"], body["daily"][-1]["read"], body["daily"][-1]["orders"]) == ("42.50", 3, 1)


def test_engagement_racing_the_rows_is_counted_once(api, app, monkeypatch):
    """The engagement handler finds no row, then the chunk's rows land (and the worker looks
    for early engagement, finding none yet), then the handler parks its facts: the handler's
    second look finds the rows, so the read still counts, once."""
    from chalicelib.delivery import engagement, worker
    from chalicelib.store import deliveries

    ids = seed_followers(api, 3)
    plan_id = create_plan(api)["plan_id"]
    pump(app, "dispatch")
    real_settle = worker.settle
    monkeypatch.setattr(worker, "settle", lambda chunk, now_ms: None)   # rows not yet written
    now = datetime.now(UTC)
    assert worker.deliver_chunk(api.seller_id, plan_id, 0, now) == "delivered"
    monkeypatch.setattr(worker, "settle", real_settle)

    chunk = deliveries.get_chunk(api.seller_id, plan_id, 0)
    real_park = deliveries.park
    landed = []

    def rows_land_first(seller_id, facts, now_ms):
        landed.append(True)
        real_settle(chunk, now_ms)                 # rows written, nothing parked yet
        return real_park(seller_id, facts, now_ms)

    monkeypatch.setattr(deliveries, "park", rows_land_first)
    event = {"event_id": "r1", "type": "message_read", "customer_id": ids[1],
             "occurred_at": iso(now), "plan_id": plan_id}
    engagement.on_events(api.seller_id, [event], now)
    assert landed
    monkeypatch.setattr(deliveries, "park", real_park)
    run_pipeline(app)
    perf = api.get(f"/v1/plans/{plan_id}/performance").json
    assert (perf["delivered"], perf["read"]) == (3, 1)


# ----- a worker running out of Lambda time ------------------------------------------------

def test_worker_short_of_time_hands_back_the_rest_and_each_key_is_sent_once(
        api, app, monkeypatch):
    """30 s of Lambda time, each channel call 'takes' 8 s, the worker keeps 15 s in hand:
    two slices per invocation, then what is left goes back to the queue (mid-chunk: with the
    sent keys kept on the chunk). Every key reaches the channel exactly once and no receive
    is burnt (nothing reaches the DLQ)."""
    from chalicelib.delivery import channels, worker
    from chalicelib.local import pollers
    from chalicelib.settings import settings
    from chalicelib.store import queues
    from chalicelib.store.aws import client

    monkeypatch.setattr(settings(), "delivery_chunk_size", 6)
    monkeypatch.setattr(settings(), "messaging_timeout_seconds", 10.0)
    monkeypatch.setattr(channels.LocalChat, "slice_size", 2)
    assert worker.margin() == 15_000
    ids = seed_followers(api, 10)              # chunks of 6 and 4: 5 slices of 2
    sends = SendLog(monkeypatch)
    monkeypatch.setattr(pollers, "LambdaContext",
                        lambda: ScriptedContext(sends, budget_ms=30_000, cost_ms=8_000))
    plan_id = create_plan(api)["plan_id"]
    run_pipeline(app)

    assert sends.outcomes["handed_back"] >= 1, sends.outcomes
    assert sends.per_customer(plan_id) == Counter({cid: 1 for cid in ids})
    assert api.get(f"/v1/plans/{plan_id}").json["status"] == "sent"
    perf = api.get(f"/v1/plans/{plan_id}/performance").json
    assert (perf["recipients"], perf["delivered"], perf["failed"]) == (10, 10, 0)
    rows = api.get(f"/v1/plans/{plan_id}/deliveries?limit=200").json["items"]
    assert sorted(r["customer_id"] for r in rows) == ids
    assert {r["status"] for r in rows} == {"delivered"}
    assert all(len(api.get(f"/v1/customers/{c}/inbox").json["items"]) == 1 for c in ids)
    dlq = client("sqs").get_queue_attributes(QueueUrl=queues.url("delivery-dlq"), AttributeNames=[
        "ApproximateNumberOfMessages"])["Attributes"]["ApproximateNumberOfMessages"]
    assert dlq == "0"


def test_a_record_not_started_before_the_deadline_goes_back_to_the_queue_unsent(
        api, app, monkeypatch):
    from chalicelib.delivery import worker
    from chalicelib.delivery.chunks import ChunkMessage

    ids = seed_followers(api, 2)
    sends = SendLog(monkeypatch)
    plan_id = create_plan(api)["plan_id"]
    pump(app, "dispatch")
    deadline = worker.Deadline(lambda: 1_000)          # 1 s left, 15 s margin
    deadline.worked = True                             # this invocation already sent something
    body = ChunkMessage(seller_id=api.seller_id, plan_id=plan_id, chunk=0).model_dump_json()
    worker.handle_message(body, datetime.now(UTC), deadline)
    assert sends.calls == 0
    # The dispatcher's message for the chunk, and the one handed back: sent once between them.
    assert pump(app, "delivery") == 2
    assert sends.per_customer(plan_id) == Counter({cid: 1 for cid in ids})


def test_an_invocation_always_sends_something_before_handing_back(api, app, monkeypatch):
    """Even with less time than the margin from the start, one slice goes out: a hand-back
    loop that never progresses is impossible."""
    from chalicelib.delivery import channels, worker

    monkeypatch.setattr(channels.LocalChat, "slice_size", 1)
    ids = seed_followers(api, 3)
    sends = SendLog(monkeypatch)
    plan_id = create_plan(api)["plan_id"]
    pump(app, "dispatch")
    deadline = worker.Deadline(lambda: 0)
    assert worker.deliver_chunk(api.seller_id, plan_id, 0, datetime.now(UTC), deadline) \
        == "handed_back"
    assert sends.calls == 1
    run_pipeline(app)
    assert sends.per_customer(plan_id) == Counter({cid: 1 for cid in ids})


# ----- a plan left in_progress by a crash before its dispatch message left ---------------

class Killed(BaseException):
    """The process dies here: no ``except Exception`` handler runs (nothing is rolled back)."""


def _crash_between_status_and_enqueue(api, monkeypatch) -> str:
    """A plan sent now whose process dies after the status write, before the enqueue."""
    from chalicelib.delivery import dispatch
    from chalicelib.services import plans as service

    plan_id = create_plan(api, action="draft")["plan_id"]

    def die(seller_id, plan_id_):
        raise Killed()

    monkeypatch.setattr(dispatch, "enqueue", die)
    with pytest.raises(Killed):
        service.send(api.seller_id, plan_id, datetime.now(UTC))
    monkeypatch.undo()
    return plan_id


@pytest.mark.parametrize(("minutes_later", "resumed"), [(9, False), (11, True)])
def test_plan_left_in_progress_before_its_enqueue_is_resumed_by_the_sweeper(
        api, app, monkeypatch, minutes_later, resumed):
    from chalicelib.delivery import sweeper

    ids = seed_followers(api, 5)
    plan_id = _crash_between_status_and_enqueue(api, monkeypatch)
    sends = SendLog(monkeypatch)
    run_pipeline(app)
    assert api.get(f"/v1/plans/{plan_id}").json["status"] == "in_progress"
    assert not sends.calls                                   # nothing will ever dispatch it

    later = datetime.now(UTC) + timedelta(minutes=minutes_later)
    first = sweeper.sweep(later, seller_id=api.seller_id)
    second = sweeper.sweep(later, seller_id=api.seller_id)   # an overlapping sweep
    assert (plan_id in first["resumed"], plan_id in second["resumed"]) == (resumed, resumed)
    run_pipeline(app)
    if not resumed:       # not stuck long enough yet: left alone
        assert api.get(f"/v1/plans/{plan_id}").json["status"] == "in_progress"
        return
    assert api.get(f"/v1/plans/{plan_id}").json["status"] == "sent"
    assert sends.per_customer(plan_id) == Counter({cid: 1 for cid in ids})
    assert all(len(api.get(f"/v1/customers/{c}/inbox").json["items"]) == 1 for c in ids)
    # Sent: out of the sparse index, so a later sweep does not even look at it.
    assert plan_id not in sweeper.sweep(later, seller_id=api.seller_id)["resumed"]


def test_sweeper_leaves_a_plan_still_sending_alone_and_finishes_one_whose_chunks_are_done(
        api, app, monkeypatch):
    from chalicelib.delivery import sweeper, worker
    from chalicelib.settings import settings
    from chalicelib.store import plans

    monkeypatch.setattr(settings(), "delivery_chunk_size", 2)
    ids = seed_followers(api, 4)
    plan_id = create_plan(api)["plan_id"]
    pump(app, "dispatch")
    later = datetime.now(UTC) + timedelta(minutes=30)
    assert sweeper.sweep(later, seller_id=api.seller_id)["in_flight"] == [plan_id]
    # Every chunk delivered, but the plan's final status write is lost (a crash).
    monkeypatch.setattr(plans, "set_status", lambda *a, **k: None)
    for number in (0, 1):
        assert worker.deliver_chunk(api.seller_id, plan_id, number, datetime.now(UTC)) == "delivered"
    monkeypatch.undo()
    assert api.get(f"/v1/plans/{plan_id}").json["status"] == "in_progress"
    sends = SendLog(monkeypatch)
    assert sweeper.sweep(later, seller_id=api.seller_id)["resumed"] == [plan_id]
    run_pipeline(app)
    assert api.get(f"/v1/plans/{plan_id}").json["status"] == "sent"
    assert sends.per_customer(plan_id) == Counter()          # nothing sent twice
    assert all(len(api.get(f"/v1/customers/{c}/inbox").json["items"]) == 1 for c in ids)


# ----- moving a DLQ back ------------------------------------------------------------------

@pytest.mark.parametrize("crash_before_delete", [False, True])
def test_redrive_moves_a_dlq_back_and_each_recipient_gets_one_message(
        api, app, monkeypatch, capsys, crash_before_delete):
    """A chunk fails five times (the channel is down) and lands in the delivery DLQ;
    ``python -m chalicelib.ops redrive delivery`` moves it back. Even when the first run
    dies after sending and before deleting (so the chunk's message is moved twice), each
    recipient is sent to once."""
    import json

    from chalicelib import ops
    from chalicelib.delivery import channels
    from chalicelib.settings import settings
    from chalicelib.store import queues

    monkeypatch.setattr(settings(), "delivery_chunk_size", 2)
    ids = seed_followers(api, 4)
    sends = SendLog(monkeypatch)
    logged_send = channels.LocalChat.send
    outage = {"down": True}

    def down_for_chunk_one(self, messages):
        if outage["down"] and any(m.customer_id in ids[2:] for m in messages):
            raise channels.TransientChannelError("messaging is down")
        return logged_send(self, messages)

    monkeypatch.setattr(channels.LocalChat, "send", down_for_chunk_one)
    plan_id = create_plan(api)["plan_id"]
    before = queues.depth("delivery-dlq")
    run_pipeline(app)                                   # chunk 1: five receives, then the DLQ
    assert queues.depth("delivery-dlq") == before + 1
    assert api.get(f"/v1/plans/{plan_id}").json["status"] == "in_progress"
    outage["down"] = False

    if crash_before_delete:
        real_delete = queues._delete

        def die_once(sqs, url, messages):
            monkeypatch.setattr(queues, "_delete", real_delete)
            raise KeyboardInterrupt("operator's laptop died")

        monkeypatch.setattr(queues, "_delete", die_once)
        with pytest.raises(KeyboardInterrupt):
            queues.redrive("delivery", hold_seconds=1)
        capsys.readouterr()
        assert queues.depth("delivery") == before + 1         # sent, but still in the DLQ
        deadline = time.monotonic() + 30                      # visible there again soon
        while queues.depth("delivery-dlq") < before + 1:
            assert time.monotonic() < deadline, "the DLQ message never came back"
            time.sleep(0.2)
    capsys.readouterr()                 # the pipeline's EMF metric lines went to stdout too
    assert ops.main(["redrive", "delivery"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["queue"] == "delivery" and report["moved"] == before + 1
    assert queues.depth("delivery-dlq") == 0
    # Moved once each, or twice when the first run died between its send and its delete.
    assert queues.depth("delivery") == (before + 1) * (2 if crash_before_delete else 1)
    run_pipeline(app)

    assert api.get(f"/v1/plans/{plan_id}").json["status"] == "sent"
    assert sends.per_customer(plan_id) == Counter({cid: 1 for cid in ids})
    perf = api.get(f"/v1/plans/{plan_id}/performance").json
    assert (perf["delivered"], perf["failed"]) == (4, 0)


@pytest.mark.parametrize("name", ["delivery", "delivery-dlq", "crm-test-delivery-dlq"])
def test_redrive_takes_a_queue_by_short_dlq_or_full_name(name):
    from chalicelib import ops

    assert ops.short_name(name, "crm-test-", ["events", "delivery"]) == "delivery"


def test_redrive_refuses_an_unknown_queue():
    from chalicelib import ops

    with pytest.raises(SystemExit):
        ops.short_name("deliveries", "crm-test-", ["events", "delivery"])
