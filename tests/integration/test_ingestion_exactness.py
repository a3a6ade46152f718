"""Ingestion exactness (docs/ingestion.md): a retried POST counts each event once whatever
the batch size and wherever the first call stopped, and still publishes what the crashed
call did not; the customer item stays under DynamoDB's item limit whatever the history;
events too many or too large for one SQS message or batch are split, never dropped."""

from __future__ import annotations

import json
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from chalicelib.domain.events import CUSTOMER_EVENT_TYPES

NOW = datetime.now(UTC)


class Crash(Exception):
    """An injected crash: the process 'dies' here."""


def at(days_ago: float) -> str:
    return (NOW - timedelta(days=days_ago)).isoformat().replace("+00:00", "Z")


def mixed_batch(prefix: str, customer: str = "c1", n: int = 500) -> list[dict]:
    """``n`` events of one customer touching every aggregate: orders and refunds, started
    payments, cart, favourites, views (> 50 a type, so the daily overflow too), follows,
    outreach per plan, LIVE and video engagement."""
    out = []
    for i in range(n):
        base = {"event_id": f"{prefix}-{i}", "customer_id": customer,
                "occurred_at": at(0.01 + (i * 7919 % 36000) / 100)}
        kind = i % 12
        if kind == 0:
            extra = {"type": "order_paid", "order_id": f"{prefix}-o{i}", "currency": "THB",
                     "amount": f"{i % 90 + 1}.{i % 100:02d}", "product_ids": ["p1"]}
        elif kind == 1:
            extra = {"type": "order_refunded", "order_id": f"{prefix}-o{i - 13}"}
        elif kind == 2:
            extra = {"type": "payment_started", "order_id": f"{prefix}-o{i + 10}", "amount": "3.00"}
        elif kind in (3, 4):
            extra = {"type": "product_viewed", "product_id": f"p{i % 7}"}
        elif kind == 5:
            extra = {"type": ("cart_added", "cart_removed", "favorited")[i % 3],
                     "product_id": f"p{i % 5}"}
        elif kind == 6:
            extra = {"type": ("followed", "unfollowed")[i % 2]}
        elif kind == 7:
            extra = {"type": ("message_read", "message_clicked")[i % 2], "plan_id": f"pl{i % 4}"}
        elif kind == 8:
            extra = {"type": "live_viewed", "live_id": "l1"}
        else:
            extra = {"type": "video_viewed", "video_id": f"v{i % 3}"}
        out.append({**base, **extra})
    return out


def snapshot(api, customer: str = "c1") -> dict:
    """Everything ingestion keeps for a customer: the API view and the stored aggregates
    (bar the exactly-once bookkeeping), plus every per-type count over the kept year."""
    from chalicelib.domain import aggregates
    from chalicelib.store import customers as repo

    view = api.get(f"/v1/customers/{customer}").json
    view.pop("version")
    agg = dict(repo.get(api.seller_id, customer).agg)
    agg.pop("ids")
    counts = {t: aggregates.count_in_window(agg, t, 0, 10**15) for t in sorted(CUSTOMER_EVENT_TYPES)}
    return {"view": view, "counts": counts, "agg": json.loads(json.dumps(agg, sort_keys=True))}


_sink: list[tuple[str, list[dict]]] = []


def _record(seller_id: str, events: list[dict], now: datetime) -> None:
    _sink.append((seller_id, events))


@pytest.fixture
def consumer(app, monkeypatch):
    """The events queue's consumer with one recording subscriber: published(seller) drains
    the queue and counts how often each event id reached it."""
    from chalicelib.services import reactions
    from tests.integration.conftest import drain

    monkeypatch.setattr(reactions, "SUBSCRIBERS", ["tests.integration.test_ingestion_exactness:_record"])
    _sink.clear()

    def published(seller_id: str) -> Counter:
        drain(app, "events")
        return Counter(e["event_id"] for s, batch in _sink if s == seller_id for e in batch)

    return published


def inject(monkeypatch, point: str) -> None:
    """Crash the next POST once at ``point``."""
    from chalicelib.services import reactions
    from chalicelib.store import customers as repo
    from chalicelib.store import events as store

    real_save, real_publish, real_mark = repo.save, reactions.publish, store.mark_seen
    armed = {"on": True}

    def fire() -> bool:
        was, armed["on"] = armed["on"], False
        return was

    def save(item):
        real_save(item)
        if fire():
            raise Crash("after the customer write")

    def publish(seller_id, events):
        if fire():
            if point == "midway_through_the_publish":
                real_publish(seller_id, events[:len(events) // 2])
            raise Crash(point)
        real_publish(seller_id, events)

    def mark_seen(seller_id, pairs, *args, **kwargs):
        if kwargs.get("published", True) and fire():
            if point == "midway_through_the_seen_marks":
                real_mark(seller_id, pairs[:len(pairs) // 2], *args, **kwargs)
            raise Crash(point)
        real_mark(seller_id, pairs, *args, **kwargs)

    if point == "after_the_customer_write":
        monkeypatch.setattr(repo, "save", save)
    elif point.endswith("publish"):
        monkeypatch.setattr(reactions, "publish", publish)
    else:
        monkeypatch.setattr(store, "mark_seen", mark_seen)


CRASH_POINTS = ["after_the_customer_write", "before_the_publish", "midway_through_the_publish",
                "before_the_seen_marks", "midway_through_the_seen_marks"]


@pytest.mark.parametrize("point", CRASH_POINTS)
def test_a_retry_after_a_crash_at_any_point_counts_each_of_500_events_of_one_customer_once(
        api, consumer, monkeypatch, point):
    batch = mixed_batch("b")
    truth = api.as_seller(api.seller_id + "-truth")
    assert truth.post("/v1/events", {"events": batch}).json["accepted"] == 500
    inject(monkeypatch, point)

    first = api.post("/v1/events", {"events": batch})
    retry = api.post("/v1/events", {"events": batch})

    assert first.status_code == 500 and first.json["error"]["code"] == "internal"
    assert retry.status_code == 202
    assert retry.json == {"accepted": 0, "duplicates": 500, "rejected": []}
    assert snapshot(api) == snapshot(truth)
    got = consumer(api.seller_id)
    assert set(got) == {e["event_id"] for e in batch}          # nothing lost downstream
    if point in ("after_the_customer_write", "before_the_publish"):
        assert set(got.values()) == {1}
    assert max(got.values()) <= 2                              # repeats only of what was sent


def test_a_retry_after_a_crash_between_the_writes_of_several_customers_counts_once(
        api, consumer, monkeypatch):
    customers = [f"m{n}" for n in range(5)]
    batch = [e for n, c in enumerate(customers) for e in mixed_batch(f"m{n}", c, 100)]
    truth = api.as_seller(api.seller_id + "-truth")
    assert truth.post("/v1/events", {"events": batch}).json["accepted"] == 500
    inject(monkeypatch, "after_the_customer_write")

    assert api.post("/v1/events", {"events": batch}).status_code == 500
    retry = api.post("/v1/events", {"events": batch}).json

    assert retry["accepted"] + retry["duplicates"] == 500 and retry["duplicates"] >= 100
    assert [snapshot(api, c) for c in customers] == [snapshot(truth, c) for c in customers]
    assert set(consumer(api.seller_id)) == {e["event_id"] for e in batch}


def test_a_crashed_batch_overtaken_by_another_batch_of_the_same_customer_counts_once(
        api, consumer, monkeypatch):
    """The id list of the crashed call leaves the customer item with the next write; that
    write marks the ids first, so the crashed call's retry still finds them."""
    a, b = mixed_batch("a"), mixed_batch("b")
    truth = api.as_seller(api.seller_id + "-truth")
    for batch in (a, b):
        assert truth.post("/v1/events", {"events": batch}).json["accepted"] == 500
    inject(monkeypatch, "after_the_customer_write")

    assert api.post("/v1/events", {"events": a}).status_code == 500
    assert api.post("/v1/events", {"events": b}).json["accepted"] == 500
    assert api.post("/v1/events", {"events": a}).json == {"accepted": 0, "duplicates": 500,
                                                          "rejected": []}
    assert api.post("/v1/events", {"events": a}).json["duplicates"] == 500

    assert snapshot(api) == snapshot(truth)
    got = consumer(api.seller_id)
    assert set(got) == {e["event_id"] for e in a + b} and set(got.values()) == {1}


def test_the_same_500_events_posted_concurrently_count_once(api, atomic_moto):
    batch = mixed_batch("s")
    truth = api.as_seller(api.seller_id + "-truth")
    truth.post("/v1/events", {"events": batch})

    with ThreadPoolExecutor(4) as pool:
        replies = list(pool.map(lambda _: api.post("/v1/events", {"events": batch}).json, range(4)))

    assert sum(r["accepted"] for r in replies) == 500
    assert all(r["accepted"] + r["duplicates"] == 500 for r in replies)
    assert snapshot(api) == snapshot(truth)


def test_a_republished_batch_moves_no_downstream_figure_twice(api, app, monkeypatch):
    """Subscribers are idempotent, so the repeats a retry may publish are harmless: plan
    counters and voucher claims equal one delivery."""
    from tests.integration.delivery_support import create_plan, run_pipeline, seed_followers

    ids = seed_followers(api, 2)
    plan = create_plan(api)
    run_pipeline(app)
    voucher = api.post("/v1/vouchers", {"name": "Ten", "kind": "regular", "quantity": 10,
                                        "discount": {"type": "percent", "value": 5}}).json
    pid, cid = plan["plan_id"], ids[0]
    events = [{"event_id": f"x-{t}", "type": t, "customer_id": cid, "occurred_at": at(0),
               "plan_id": pid} for t in ("message_read", "message_clicked")]
    events.append({"event_id": "x-order", "type": "order_paid", "customer_id": cid,
                   "occurred_at": at(-0.0001), "order_id": "o1", "amount": "12.00",
                   "currency": "THB"})
    events.append({"event_id": "x-claim", "type": "voucher_claimed", "customer_id": cid,
                   "occurred_at": at(0), "voucher_id": voucher["voucher_id"]})
    inject(monkeypatch, "before_the_seen_marks")            # published, then crashed

    assert api.post("/v1/events", {"events": events}).status_code == 500
    assert api.post("/v1/events", {"events": events}).json["duplicates"] == 4
    run_pipeline(app)

    perf = api.get(f"/v1/plans/{pid}/performance").json
    assert (perf["read"], perf["clicked"], perf["orders"], perf["gmv"]) == (1, 1, 1, "12.00")
    assert api.get(f"/v1/vouchers/{voucher['voucher_id']}").json["claimed"] == 1


# ----- the customer item stays under DynamoDB's 400 KB ---------------------------------

def test_moto_refuses_a_customer_item_over_400_kb(seller):
    """The premise of the size tests below: moto enforces the item limit (405,000 bytes)."""
    from pynamodb.exceptions import PutError

    from chalicelib.store import customers as repo

    item = repo.new_item(seller, "big", 0)
    item.agg = {"pad": "x" * 405_000}
    with pytest.raises(PutError, match="maximum allowed size"):
        repo.save(item)


def test_3000_orders_a_year_and_5000_refunds_of_unknown_orders_stay_under_the_item_limit(api):
    from chalicelib.domain import aggregates
    from chalicelib.store import customers as repo

    orders = [{"event_id": f"op-{i}", "type": "order_paid", "customer_id": "heavy",
               "occurred_at": at(0.01 + i * 363.9 / 3000), "order_id": f"order-{i:034d}",
               "amount": f"{i % 500 + 1}.25", "currency": "THB"} for i in range(3000)]
    refunds = [{"event_id": f"rf-{i}", "type": "order_refunded", "customer_id": "heavy",
                "occurred_at": at(360 - i * 0.07), "order_id": f"unknown-{i:032d}"}
               for i in range(5000)]
    sizes = []
    for start in range(0, 8000, 500):
        chunk = (orders + refunds)[start:start + 500]
        r = api.post("/v1/events", {"events": chunk})
        assert r.status_code == 202 and r.json["accepted"] == 500, r.json
        sizes.append(len(json.dumps(repo.get(api.seller_id, "heavy").agg, separators=(",", ":"))))

    stats = api.get("/v1/customers/heavy").json["stats"]
    assert stats["order_count"] == 3000
    assert Decimal(stats["total_paid"]) == sum(Decimal(o["amount"]) for o in orders)
    agg = repo.get(api.seller_id, "heavy").agg
    in_30_days = sum(1 for t, _ in aggregates.paid_orders(agg)
                     if t >= aggregates.to_ms(NOW - timedelta(days=30)))
    assert in_30_days == sum(1 for o in orders if o["occurred_at"] >= at(30))
    assert max(sizes) <= aggregates.MAX_BYTES, sizes
    print("customer item agg bytes after each POST:", sizes)
    late = {**orders[0], "event_id": "late-pay", "order_id": refunds[-1]["order_id"]}
    assert api.post("/v1/events", {"events": [late]}).json["accepted"] == 1
    assert api.get("/v1/customers/heavy").json["stats"]["order_count"] == 3000  # still refunded


def test_a_document_at_its_budget_fits_one_item_beside_full_profile_fields(seller):
    from chalicelib.domain import aggregates
    from chalicelib.store import customers as repo

    item = repo.new_item(seller, "c".ljust(128, "x"), 0)
    item.name, item.region, item.phone = "n" * 200, "r" * 100, "+66812345678"
    item.tags = {f"tag-{i:036d}" for i in range(300)}
    item.agg = {"pad": "x" * (aggregates.MAX_BYTES - 10)}
    assert aggregates.size(item.agg) == aggregates.MAX_BYTES
    repo.save(item)
    assert repo.get(seller, item.customer_id).agg == item.agg


# ----- SQS: split by count and by bytes, never dropped -----------------------------------

def test_the_local_queues_refuse_a_message_over_256_kib():
    """The premise of the split test: the local queues enforce SQS's classic 256 KiB."""
    from botocore.exceptions import ClientError

    from chalicelib.store import queues
    from chalicelib.store.aws import client

    with pytest.raises(ClientError, match="shorter than 262144"):
        client("sqs").send_message(QueueUrl=queues.url("events"), MessageBody="x" * 262_145)


def test_500_events_with_100_long_product_ids_each_reach_the_consumer_exactly_once(api, consumer):
    events = [{"event_id": f"big-{i}", "type": "order_paid", "customer_id": f"c{i % 7}",
               "occurred_at": at(1 + i % 300), "order_id": f"o{i}", "amount": "1.00",
               "currency": "THB", "product_ids": [f"{i}-{j}".ljust(128, "p") for j in range(100)]}
              for i in range(500)]
    assert len(json.dumps(events)) > 6_000_000

    r = api.post("/v1/events", {"events": events})

    assert r.status_code == 202 and r.json["accepted"] == 500
    got = consumer(api.seller_id)
    assert got == Counter({e["event_id"]: 1 for e in events})
    kept = [e for s, batch in _sink if s == api.seller_id for e in batch]
    assert all(len(e["product_ids"]) == 100 for e in kept)


def test_an_event_too_large_for_one_message_is_rejected_alone(api, consumer):
    huge = {"event_id": "huge", "type": "order_paid", "customer_id": "c1", "occurred_at": at(1),
            "order_id": "o1", "amount": "1.00", "currency": "THB",
            "product_ids": [f"{j}".ljust(128, "p") for j in range(2100)]}
    small = {"event_id": "small", "type": "followed", "customer_id": "c1", "occurred_at": at(1)}

    r = api.post("/v1/events", {"events": [huge, small]})

    assert r.status_code == 202 and r.json["accepted"] == 1
    assert [x["index"] for x in r.json["rejected"]] == [0]
    assert consumer(api.seller_id) == Counter({"small": 1})
