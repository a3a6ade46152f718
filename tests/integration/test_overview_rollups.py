"""The overview's rollup writers (delivery/rollups.py) against moto: every fact counts once
whatever is repeated, and a fold that crashed half way is finished by its retry without
counting anything twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.delivery import counters, rollups
from chalicelib.delivery.chunks import Fact
from chalicelib.domain import aggregates
from chalicelib.domain import overview as domain
from chalicelib.store import overview as store
from chalicelib.store.aws import client

pytestmark = pytest.mark.usefixtures("aws")
NOW = datetime.now(UTC)
NOW_MS = aggregates.to_ms(NOW)
DAY = aggregates.DAY_MS
TODAY = NOW.date().isoformat()


def _days(seller: str) -> dict[str, dict]:
    out: dict[str, dict] = {}
    for row in store.day_rows(seller, "2000-01-01", "2999-12-31"):
        day = out.setdefault(row["day"], {})
        for name, value in row.items():
            if name not in ("pk", "sk", "day"):
                day[name] = day.get(name, 0) + value
    return out


def _plans(seller: str) -> dict[str, dict]:
    return domain.plan_totals(store.plan_rows(seller, "2000-01-01", "2999-12-31"))


def _funnel(seller: str, since_ms: int) -> dict[str, int]:
    return {m: store.count_since(seller, m, since_ms) for m in domain.FUNNEL}


def _messages(n: int, sent_ms: int, prefix: str = "c") -> list[rollups.Message]:
    return [(f"{prefix}{i:04d}", f"{prefix}{i:04d}", sent_ms, "delivered") for i in range(n)]


def test_a_fold_that_crashed_half_way_is_finished_by_its_retry_counting_each_once(seller,
                                                                                  monkeypatch):
    ddb = client("dynamodb")
    real = ddb.transact_write_items
    calls = {"n": 0}

    def crash_after_two(**kwargs):
        calls["n"] += 1
        if calls["n"] > 2:
            raise ConnectionError("the function died here")
        return real(**kwargs)

    messages = _messages(300, NOW_MS) + [("x", "x", NOW_MS, "failed")]
    monkeypatch.setattr(ddb, "transact_write_items", crash_after_two)
    with pytest.raises(ConnectionError):
        rollups.fold_messages(seller, "pl1", messages, NOW_MS)
    monkeypatch.setattr(ddb, "transact_write_items", real)
    rollups.fold_messages(seller, "pl1", messages, NOW_MS)        # the retry
    assert rollups.fold_messages(seller, "pl1", messages, NOW_MS) == 0   # and a duplicate
    assert _days(seller)[TODAY]["reached"] == 300
    assert _plans(seller)["pl1"] == {"delivered": 300, "failed": 1, "orders": 0,
                                     "gmv": pytest.approx(0)}
    assert _funnel(seller, NOW_MS - DAY)["reached"] == 300


def test_a_batch_whose_last_attempt_finds_every_fact_counted_is_done_not_failed(seller,
                                                                                monkeypatch):
    """Conflicts up to the last attempt, which then finds every fact counted already (a
    concurrent fold of the same facts won): nothing is left to write, so the fold returns
    (counting nothing twice) rather than failing as if the conflicts had never ended."""
    from types import SimpleNamespace

    messages = _messages(3, NOW_MS)
    rollups.fold_messages(seller, "pl1", messages, NOW_MS)       # the concurrent fold
    ddb = client("dynamodb")
    real, conflicts = ddb.transact_write_items, {"left": store.ATTEMPTS - 1}

    def conflicted(**kwargs):
        if conflicts["left"]:
            conflicts["left"] -= 1
            reasons = [{"Code": "TransactionConflict"}] * len(kwargs["TransactItems"])
            raise ddb.exceptions.TransactionCanceledException(
                {"Error": {"Code": "TransactionCanceledException", "Message": "conflict"},
                 "CancellationReasons": reasons}, "TransactWriteItems")
        return real(**kwargs)

    monkeypatch.setattr(ddb, "transact_write_items", conflicted)
    monkeypatch.setattr(store, "time", SimpleNamespace(sleep=lambda seconds: None))
    assert rollups.fold_messages(seller, "pl1", messages, NOW_MS) == 0
    assert conflicts["left"] == 0
    assert _days(seller)[TODAY]["reached"] == 3
    assert _plans(seller)["pl1"]["delivered"] == 3


def test_a_customer_reached_by_two_plans_in_a_day_is_one_customer_that_day(seller):
    rollups.fold_messages(seller, "pl1", _messages(3, NOW_MS), NOW_MS)
    rollups.fold_messages(seller, "pl2", _messages(5, NOW_MS), NOW_MS)
    assert _days(seller)[TODAY]["reached"] == 5
    assert {p: v["delivered"] for p, v in _plans(seller).items()} == {"pl1": 3, "pl2": 5}
    assert _funnel(seller, NOW_MS - DAY)["reached"] == 5


def test_automated_messages_count_per_occurrence_and_per_day(seller):
    """An automated plan messages one customer twice (two occurrences, days apart)."""
    yesterday = NOW_MS - DAY
    rollups.fold_messages(seller, "auto", [("c1", "occ-1", yesterday, "delivered")], NOW_MS)
    rollups.fold_messages(seller, "auto", [("c1", "occ-2", NOW_MS, "delivered"),
                                           ("c1", "occ-1", yesterday, "delivered")], NOW_MS)
    days = _days(seller)
    assert [days[d]["reached"] for d in sorted(days)] == [1, 1]
    assert _plans(seller)["auto"]["delivered"] == 2
    assert _funnel(seller, NOW_MS - 3 * DAY)["reached"] == 1


def _fact(key: str, cid: str, at: int, sent_at: int, plan: str = "pl1", **add) -> Fact:
    return Fact(plan_id=plan, part="c#000000", key=key, add=add or {"read": 1},
                customer_id=cid, at=at, sent_at=sent_at)


def test_engagement_facts_count_once_and_an_order_credits_one_plan_once(seller):
    sent = NOW_MS - 2 * DAY
    facts = [_fact("read:c1", "c1", NOW_MS, sent), _fact("read:c2", "c2", NOW_MS - DAY, sent),
             _fact("clicked:c1", "c1", NOW_MS, sent, clicked=1),
             _fact("order:o1", "c1", NOW_MS, sent, orders=1, gmv="40.10")]
    rollups.fold_facts(seller, facts, NOW_MS)
    assert rollups.fold_facts(seller, facts, NOW_MS) == 0
    # The same order credited to another plan (a race between two deliveries of its
    # event): the overview counts the order once.
    rollups.fold_facts(seller, [_fact("order:o1", "c1", NOW_MS, sent, "pl2", orders=1,
                                      gmv="40.10")], NOW_MS)
    today = _days(seller)[TODAY]
    assert (today["read"], today["clicked"], today["orders"], str(today["gmv"])) == (1, 1, 1, "40.10")
    assert _days(seller)[(NOW - timedelta(days=1)).date().isoformat()]["read"] == 1
    plans = _plans(seller)
    assert (plans["pl1"]["orders"], str(plans["pl1"]["gmv"])) == (1, "40.10")
    assert "pl2" not in plans
    assert _funnel(seller, sent) == {"reached": 0, "read": 2, "clicked": 1, "ordered": 1}
    # The funnel is over messages sent in the window: sent before it, they count nowhere.
    assert _funnel(seller, sent + 1) == {"reached": 0, "read": 0, "clicked": 0, "ordered": 0}


def test_the_metrics_handler_folds_a_redelivered_batch_into_the_rollups_once(seller):
    facts = [_fact("read:c1", "c1", NOW_MS, NOW_MS).model_dump(mode="json"),
             _fact("order:o7", "c1", NOW_MS, NOW_MS, orders=1, gmv="9.99").model_dump(mode="json")]
    record = {"messageId": "m1", "body": json.dumps({"seller_id": seller, "facts": facts})}
    for _ in range(2):
        assert counters.handle_batch({"Records": [record]}) == {"batchItemFailures": []}
    today = _days(seller)[TODAY]
    assert (today["read"], today["orders"], str(today["gmv"])) == (1, 1, "9.99")


def _order(etype: str, order_id: str, at: datetime, amount: str = "10.00") -> dict:
    event = {"type": etype, "order_id": order_id, "customer_id": "b", "occurred_at": at.isoformat()}
    return {**event, "amount": amount} if etype == "order_paid" else event


@pytest.mark.parametrize("sequence, orders, gmv", [
    (["paid"], 1, "10.00"),
    (["paid", "paid"], 1, "10.00"),
    (["paid", "refunded"], 0, "0.00"),
    (["refunded", "paid"], 0, "0.00"),
    (["paid", "refunded", "refunded", "paid"], 0, "0.00"),
    (["refunded", "refunded"], 0, "0.00"),
])
def test_a_refund_takes_its_order_off_the_day_it_was_paid_in_any_order(seller, sequence,
                                                                         orders, gmv):
    paid_at = NOW - timedelta(days=3)
    for step in sequence:
        event = _order(f"order_{step}", "o1", paid_at if step == "paid" else NOW)
        rollups.on_events(seller, [event, event], NOW)     # delivered twice, too
    day = _days(seller).get(paid_at.date().isoformat(), {})
    assert (day.get("shop_orders", 0), f"{day.get('shop_gmv', 0):.2f}") == (orders, gmv)
    assert all(v.get("shop_orders", 0) == 0 for d, v in _days(seller).items()
               if d != paid_at.date().isoformat())
