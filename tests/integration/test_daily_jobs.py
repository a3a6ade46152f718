"""The daily job runs per seller (docs/operations.md): the schedule puts one message per seller
with daily rules on the daily queue; each message runs that seller's rules at most once per
day, so a large, slow or failing seller holds up nobody else."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest

from tests.integration.conftest import Api, drain
from tests.integration.test_tag_rules_api import NEW_CUSTOMER, order, post_events, rule, tags_of


def make_shop(client) -> Api:
    """A seller whose daily rule will take ``new_customer`` off customer c1 (first order
    90 days ago)."""
    shop = Api(client, f"s-{uuid.uuid4().hex[:10]}")
    assert shop.post("/v1/tags", {"name": "new_customer", "dimension": "purchase_stage"}
                     ).status_code == 201
    rule(shop, NEW_CUSTOMER)
    post_events(shop, [order("c1", 1, 90)])
    shop.post("/v1/customers/c1/tags", {"add": ["new_customer"]})
    return shop


@pytest.fixture
def shops(client, app):
    return [make_shop(client) for _ in range(3)]


def today() -> str:
    return datetime.now(UTC).date().isoformat()


def run_of(seller_id: str, day: str):
    """The seller's run of ``day``: each test reads the day once, at its start, and passes it
    on (read again later it could be the next day, and that day has no run)."""
    from chalicelib.store import tag_rules as store

    return store.get_run(seller_id, day)


def until(check, seconds: float = 60) -> None:
    """Poll ``check`` until it holds (with a deadline)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition never held")
        time.sleep(0.1)


def daily_queue():
    from chalicelib.settings import settings
    from chalicelib.store.aws import client

    sqs = client("sqs")
    return sqs, sqs.get_queue_url(QueueName=settings().queue_name("daily"))["QueueUrl"]


@pytest.fixture
def count_runs(monkeypatch):
    """How often each seller's rules really ran (the real function, counted)."""
    from chalicelib.services import tag_rules

    real, runs = tag_rules.run_daily, {}

    def counted(seller_id, now):
        runs[seller_id] = runs.get(seller_id, 0) + 1
        return real(seller_id, now)

    monkeypatch.setattr(tag_rules, "run_daily", counted)
    return runs


def test_the_schedule_queues_one_message_per_seller_and_runs_no_rules_itself(shops, client, app):
    day = today()
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event",
                                            detail={}, resources=[])
    result = client.lambda_.invoke("daily_tag_rules", event).payload
    assert result["day"] == day and result["queued"] >= 3
    assert all(tags_of(s, "c1") == ["new_customer"] for s in shops)   # nothing ran yet
    sqs, url = daily_queue()
    bodies, handles = [], []
    for _ in range(200):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            break
        bodies += [json.loads(m["Body"]) for m in got]
        handles += [m["ReceiptHandle"] for m in got]
    for handle in handles:            # back on the queue for the handler
        sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=handle, VisibilityTimeout=0)
    mine = [b for b in bodies if b["seller_id"] in {s.seller_id for s in shops}]
    assert sorted(b["seller_id"] for b in mine) == sorted(s.seller_id for s in shops)
    assert all(b["day"] == day for b in mine)
    drain(app, "daily")
    assert all(tags_of(s, "c1") == [] for s in shops)


def consume_once(app) -> list[dict]:
    """Every message visible on the daily queue, each in its own invocation (batch size 1, as
    on AWS); the successful ones are deleted. Returns the messages that failed (still held)."""
    from chalicelib.local.pollers import run_batch, sqs_handlers
    from chalicelib.settings import settings

    sqs, url = daily_queue()
    handler = next(h for q, h, _ in sqs_handlers(app) if q == settings().queue_name("daily"))
    failed = []
    for _ in range(200):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                  VisibilityTimeout=60).get("Messages", [])
        if not got:
            return failed
        for m in got:
            if run_batch(handler, [m], "arn:test"):
                failed.append(m)
            else:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    raise AssertionError("the daily queue never emptied")


def test_a_failing_seller_does_not_stop_the_others(shops, app, monkeypatch):
    from chalicelib.services import tag_rules

    ok_a, failing, ok_b = shops
    real = tag_rules.run_daily

    def broken_for_one(seller_id, now):
        if seller_id == failing.seller_id:
            raise RuntimeError("this seller's data is broken today")
        return real(seller_id, now)

    monkeypatch.setattr(tag_rules, "run_daily", broken_for_one)
    now = datetime.now(UTC)
    day = now.date().isoformat()
    # The failing seller first: the others do not wait behind it.
    tag_rules.queue_daily(now, [failing.seller_id, ok_a.seller_id, ok_b.seller_id])
    failed = consume_once(app)
    failed = [m for m in failed if json.loads(m["Body"])["seller_id"] in
              {s.seller_id for s in shops}]
    assert [json.loads(m["Body"])["seller_id"] for m in failed] == [failing.seller_id]
    assert tags_of(ok_a, "c1") == [] and tags_of(ok_b, "c1") == []
    assert run_of(ok_a.seller_id, day).status == "done"
    assert run_of(ok_b.seller_id, day).status == "done"
    assert tags_of(failing, "c1") == ["new_customer"]
    assert run_of(failing.seller_id, day).lease_until == 0      # released for the retry
    # Its message comes back (here at once); with the fault gone, the retry runs it.
    monkeypatch.setattr(tag_rules, "run_daily", real)
    sqs, url = daily_queue()
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=failed[0]["ReceiptHandle"],
                                  VisibilityTimeout=0)
    assert consume_once(app) == []
    assert run_of(failing.seller_id, day).status == "done" and tags_of(failing, "c1") == []


@pytest.fixture
def long_visibility():
    """Two concurrent consumers, as two Lambda invocations would be: a message in flight stays
    hidden while its handler runs (the tests' queues otherwise hide it for only 1 s)."""
    sqs, url = daily_queue()
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "60"})
    yield
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "1"})


def test_a_slow_seller_does_not_hold_up_the_others(shops, app, monkeypatch, atomic_moto,
                                                   long_visibility):
    from chalicelib.local.pollers import Poller, sqs_handlers
    from chalicelib.services import tag_rules
    from chalicelib.settings import settings

    ok_a, slow, ok_b = shops
    real, started, release = tag_rules.run_daily, threading.Event(), threading.Event()

    def slow_for_one(seller_id, now):
        if seller_id == slow.seller_id:
            started.set()
            assert release.wait(120)
        return real(seller_id, now)

    monkeypatch.setattr(tag_rules, "run_daily", slow_for_one)
    name = settings().queue_name("daily")
    handler, batch = next((h, b) for q, h, b in sqs_handlers(app) if q == name)
    stop = threading.Event()
    pollers = [Poller(name, handler, batch, stop) for _ in range(2)]
    now = datetime.now(UTC)
    day = now.date().isoformat()
    # The slow seller first, so one consumer is busy with it while the other does the rest.
    tag_rules.queue_daily(now, [slow.seller_id, ok_a.seller_id, ok_b.seller_id])
    for p in pollers:
        p.start()
    try:
        until(started.is_set)
        until(lambda: all(getattr(run_of(s.seller_id, day), "status", None) == "done"
                          for s in (ok_a, ok_b)))
        assert tags_of(ok_a, "c1") == [] and tags_of(ok_b, "c1") == []
        assert run_of(slow.seller_id, day).status == "running"      # still at it
        release.set()
        until(lambda: run_of(slow.seller_id, day).status == "done")
        assert tags_of(slow, "c1") == []
    finally:
        release.set()
        stop.set()
        for p in pollers:
            p.join(timeout=30)


def test_a_duplicated_daily_message_runs_the_sellers_rules_once(shops, app, count_runs):
    from chalicelib.local.pollers import run_batch, sqs_handlers
    from chalicelib.services import tag_rules
    from chalicelib.settings import settings

    shop, now = shops[0], datetime.now(UTC)
    for _ in range(3):                     # the schedule fired again, a producer retried
        tag_rules.queue_daily(now, [shop.seller_id])
    sqs, url = daily_queue()
    handler = next(h for q, h, _ in sqs_handlers(app) if q == settings().queue_name("daily"))
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
    assert run_batch(handler, got, "arn:test") == set()
    assert run_batch(handler, got, "arn:test") == set()    # the same batch redelivered
    drain(app, "daily")
    assert count_runs.get(shop.seller_id) == 1
    run = run_of(shop.seller_id, now.date().isoformat())
    assert run.status == "done" and run.summary["updated"] == 1
    assert tags_of(shop, "c1") == []
    audit = shop.get("/v1/tags/audit?limit=200").json["items"]
    assert [(e["customer_id"], e["action"]) for e in audit
            if e["actor"].startswith("rule:")] == [("c1", "removed")]


@pytest.mark.parametrize("state,runs,outcome", [
    ("held by a live invocation", 0, "busy"),
    ("held by an invocation that crashed (lease over)", 1, "ran"),
    ("released after a failure", 1, "ran"),
    ("done", 0, "summary"),
])
def test_a_days_run_is_claimed_once(shops, app, count_runs, state, runs, outcome):
    from chalicelib.domain import aggregates
    from chalicelib.services import tag_rules
    from chalicelib.store import tag_rules as store

    seller_id, now = shops[0].seller_id, datetime.now(UTC)
    day = now.date().isoformat()
    now_ms = aggregates.to_ms(now)
    claim = store.claim_run(seller_id, day, now_ms - 600_000, 300_000 if "lease over" in state
                            else 3_600_000)
    assert claim is not None
    if state == "released after a failure":
        assert store.release_run(claim)
    if state == "done":
        assert store.finish_run(claim, {"rules": 1, "customers": 7, "updated": 0, "changes": 0})
    if outcome == "busy":
        with pytest.raises(tag_rules.DailyRunBusy):
            tag_rules.run_daily_once(seller_id, day, now)
    else:
        summary = tag_rules.run_daily_once(seller_id, day, now)
        assert summary["customers"] == (7 if outcome == "summary" else 1)
        assert run_of(seller_id, day).status == "done"
    assert count_runs.get(seller_id, 0) == runs
