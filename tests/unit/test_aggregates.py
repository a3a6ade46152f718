"""Per-customer aggregates: every event type, order independence, refunds, bounded size."""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from chalicelib.domain import aggregates
from chalicelib.domain.events import CUSTOMER_EVENT_TYPES, EVENT_ADAPTER

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
EXTRA = {
    "order_paid": {"order_id": "o1", "amount": "10.00", "currency": "THB", "product_ids": ["p1"]},
    "order_refunded": {"order_id": "o1"},
    "payment_started": {"order_id": "o9", "amount": "5.00"},
    "cart_added": {"product_id": "p1"}, "cart_removed": {"product_id": "p1"},
    "favorited": {"product_id": "p2"}, "product_viewed": {"product_id": "p3"},
    "review_left": {"product_id": "p1", "rating": 5},
    "followed": {}, "unfollowed": {}, "blocked": {}, "unblocked": {}, "unsubscribed": {},
    "live_viewed": {"live_id": "l1"}, "live_clicked": {"live_id": "l1"},
    "video_viewed": {"video_id": "v1"}, "video_liked": {"video_id": "v1"},
    "video_clicked": {"video_id": "v1"}, "product_card_clicked": {"product_id": "p1"},
    "message_read": {"plan_id": "pl1"}, "message_clicked": {"plan_id": "pl1"},
    "message_replied": {"plan_id": "pl1"},
    "voucher_claimed": {"voucher_id": "v1", "plan_id": "pl1"},
    "voucher_redeemed": {"voucher_id": "v1", "order_id": "o1"},
}
_seq = iter(range(10**9))


def ev(etype: str, days_ago: float = 1, **extra):
    data = {"event_id": f"e{next(_seq)}", "type": etype, "customer_id": "c1",
            "occurred_at": (NOW - timedelta(days=days_ago)).isoformat(), **EXTRA.get(etype, {})}
    data.update(extra)
    return EVENT_ADAPTER.validate_python(data)


def fold(events, now=NOW):
    agg = aggregates.empty()
    for e in events:
        aggregates.apply(agg, e)
    aggregates.prune(agg, aggregates.to_ms(now))
    return agg


def ms(days_ago: float) -> int:
    return aggregates.to_ms(NOW - timedelta(days=days_ago))


def test_every_customer_event_type_is_covered_by_these_tests():
    assert set(EXTRA) == CUSTOMER_EVENT_TYPES


@pytest.mark.parametrize("etype", sorted(CUSTOMER_EVENT_TYPES))
def test_each_event_type_records_its_latest_time(etype):
    agg = fold([ev(etype, 3), ev(etype, 2)])
    assert agg["last"][etype] == ms(2)


@pytest.mark.parametrize("etype", sorted(CUSTOMER_EVENT_TYPES - {"order_paid"}))
def test_each_event_type_is_counted_in_a_window(etype):
    agg = fold([ev(etype, 40), ev(etype, 10), ev(etype, 5)])
    assert aggregates.count_in_window(agg, etype, ms(30), ms(0)) == 2
    assert aggregates.count_in_window(agg, etype, ms(365), ms(0)) == 3


def test_paid_orders_give_count_total_first_and_last():
    agg = fold([ev("order_paid", 100, order_id="a", amount="10.50"),
                ev("order_paid", 5, order_id="b", amount="20.00")])
    st = aggregates.stats(agg)
    assert (st.order_count, st.total_paid) == (2, Decimal("30.50"))
    assert (st.first_order_at, st.last_order_at) == (ms(100), ms(5))


def test_a_refunded_order_stops_counting():
    agg = fold([ev("order_paid", 10, order_id="a", amount="10.00"),
                ev("order_paid", 5, order_id="b", amount="20.00"),
                ev("order_refunded", 4, order_id="b")])
    st = aggregates.stats(agg)
    assert (st.order_count, st.total_paid, st.last_order_at) == (1, Decimal("10.00"), ms(10))


def test_a_refund_arriving_before_its_payment_still_cancels_it():
    agg = fold([ev("order_refunded", 4, order_id="b"), ev("order_paid", 5, order_id="b")])
    assert aggregates.stats(agg).order_count == 0


def test_the_same_order_paid_twice_counts_once():
    agg = fold([ev("order_paid", 5, order_id="a"), ev("order_paid", 5, order_id="a")])
    assert aggregates.stats(agg).order_count == 1


def test_order_count_in_any_window_is_exact():
    agg = fold([ev("order_paid", d, order_id=f"o{d}") for d in (1, 29, 31, 89, 91, 364)])
    times = [t for t, _ in aggregates.paid_orders(agg)]
    assert sum(ms(30) <= t <= ms(0) for t in times) == 2
    assert sum(ms(90) <= t for t in times) == 4
    assert len(times) == 6


def test_events_in_any_order_give_the_same_aggregates():
    events = [ev("order_paid", 50, order_id="a"), ev("order_refunded", 40, order_id="a"),
              ev("order_paid", 30, order_id="b", amount="7.00"), ev("followed", 20),
              ev("unfollowed", 10), ev("followed", 5), ev("blocked", 8), ev("unblocked", 3)]
    events += [ev("product_viewed", d) for d in range(1, 120)]
    expected = fold(events)
    expected.pop("ids")
    rng = random.Random(7)
    for _ in range(5):
        shuffled = events[:]
        rng.shuffle(shuffled)
        got = fold(shuffled)
        got.pop("ids")
        assert json.dumps(got, sort_keys=True) == json.dumps(expected, sort_keys=True)


@pytest.mark.parametrize("history, follows, since_days", [
    (["followed@10"], True, 10),
    (["followed@10", "unfollowed@5"], False, None),
    (["unfollowed@5", "followed@10"], False, None),          # arrival order does not matter
    (["followed@20", "unfollowed@10", "followed@3"], True, 3),
    (["followed@20", "followed@3"], True, 20),                # still following since the first
    (["unfollowed@3"], False, None),
])
def test_follow_state_is_the_follow_after_the_latest_unfollow(history, follows, since_days):
    events = [ev(h.split("@")[0], float(h.split("@")[1])) for h in history]
    state = aggregates.follow_state(fold(events))
    assert state == (follows, ms(since_days) if since_days is not None else None)


@pytest.mark.parametrize("history, blocked", [
    ([], False), (["blocked@5"], True), (["blocked@5", "unblocked@2"], False),
    (["unblocked@2", "blocked@5"], False), (["unblocked@5", "blocked@2"], True),
])
def test_blocked_is_the_latest_of_block_and_unblock(history, blocked):
    events = [ev(h.split("@")[0], float(h.split("@")[1])) for h in history]
    assert aggregates.is_blocked(fold(events)) is blocked


def test_unsubscribed_sticks():
    assert aggregates.is_unsubscribed(fold([ev("unsubscribed", 3)]))
    assert not aggregates.is_unsubscribed(fold([ev("message_read", 3)]))


def test_outreach_is_kept_per_plan():
    agg = fold([ev("message_read", 3, plan_id="p1"), ev("message_clicked", 2, plan_id="p2")])
    assert agg["plans"]["p1"]["message_read"] == [ms(3)]
    assert "message_read" not in agg["plans"]["p2"]


def test_cart_favourites_and_started_payments_are_tracked():
    agg = fold([ev("cart_added", 5, product_id="p1"), ev("cart_removed", 2, product_id="p1"),
                ev("cart_added", 1, product_id="p2"), ev("favorited", 3, product_id="p3"),
                ev("payment_started", 2, order_id="o5"), ev("payment_started", 2, order_id="o6"),
                ev("order_paid", 1, order_id="o6")])
    assert agg["cart"]["p1"] == [ms(5), ms(2)] and agg["cart"]["p2"] == [ms(1), None]
    assert agg["favs"] == {"p3": ms(3)}
    assert set(agg["pay"]) == {"o5"}


def test_orders_older_than_the_kept_year_fold_into_lifetime_figures():
    agg = fold([ev("order_paid", 300, order_id="old", amount="5.00"),
                ev("order_paid", 10, order_id="new", amount="1.00")])
    later = NOW + timedelta(days=100)
    aggregates.prune(agg, aggregates.to_ms(later))
    assert "old" not in agg["orders"]
    st = aggregates.stats(agg)
    assert (st.order_count, st.total_paid, st.first_order_at) == (2, Decimal("6.00"), ms(300))


def test_a_heavy_customer_stays_bounded_and_counts_stay_right():
    """50,000 events for one customer: the document stays far below DynamoDB's 400 KB."""
    rng = random.Random(1)
    agg = aggregates.empty()
    types = ["video_viewed", "video_liked", "product_viewed", "live_viewed", "cart_added"]
    for i in range(50_000):
        etype = types[i % len(types)]
        aggregates.apply(agg, ev(etype, rng.uniform(0, 364), **({"product_id": "p"} if etype in (
            "product_viewed", "cart_added") else {})))
        if i % 1000 == 0:
            aggregates.prune(agg, aggregates.to_ms(NOW))
    aggregates.prune(agg, aggregates.to_ms(NOW))
    size = len(json.dumps(agg))
    assert size < 120_000, size
    assert aggregates.count_in_window(agg, "video_viewed", ms(365), ms(0)) == 10_000


# ----- bounded orders and the size budget (docs/ingestion.md "Size") ---------------------

@pytest.mark.parametrize("order_id", ["o", "x" * 40, "y" * 128, "ord:+66@shop.th-1_2"])
def test_an_order_is_kept_under_a_16_character_key_whatever_its_id(order_id):
    agg = fold([ev("order_paid", 3, order_id=order_id, amount="9.00")])
    assert [len(k) for k in agg["orders"]] == [16]
    assert aggregates.stats(agg).order_count == 1


def test_the_earliest_payment_of_an_order_holds_in_any_order():
    pays = [ev("order_paid", 9, order_id="a", amount="5.00"),
            ev("order_paid", 3, order_id="a", amount="7.00"),
            ev("order_paid", 9, order_id="a", amount="6.00")]
    for shuffled in (pays, pays[::-1], [pays[1], pays[0], pays[2]]):
        st = aggregates.stats(fold(shuffled))
        assert (st.order_count, st.total_paid, st.first_order_at) == (1, Decimal("6.00"), ms(9))


def test_a_document_in_the_earlier_order_layout_reads_and_upgrades_to_the_same_figures():
    old = aggregates.empty()
    old["orders"] = {"a": {"paid": ms(10), "amount": "4.00", "cur": "THB", "refunded": None},
                     "b": {"paid": ms(5), "amount": "6.00", "cur": "THB", "refunded": ms(4)},
                     "c": {"paid": None, "amount": None, "cur": None, "refunded": ms(2)}}
    before = aggregates.stats(old)
    assert (before.order_count, before.total_paid) == (1, Decimal("4.00"))
    new = aggregates.upgrade(json.loads(json.dumps(old)))
    assert aggregates.stats(new) == before
    aggregates.apply(new, ev("order_paid", 1, order_id="c", amount="9.00"))   # refunded first
    aggregates.apply(new, ev("order_refunded", 1, order_id="a"))
    assert aggregates.stats(new).order_count == 0


def test_refunds_of_unknown_orders_are_capped_and_the_latest_still_cancel():
    cap = aggregates.MAX_UNMATCHED_REFUNDS
    agg = aggregates.empty()
    for i in range(cap + 500):
        aggregates.apply(agg, ev("order_refunded", 300 - i * 0.1, order_id=f"u{i}"))
    aggregates.prune(agg, aggregates.to_ms(NOW))
    assert len(agg["orders"]) == cap
    aggregates.apply(agg, ev("order_paid", 250, order_id=f"u{cap + 499}"))   # the latest refund
    assert aggregates.stats(agg).order_count == 0


def _long(prefix: str, n: int) -> str:
    return f"{prefix}{n:d}".ljust(128, "x")


def test_the_document_stays_within_its_budget_under_any_history():
    """Every part at its cap with 128-character ids, 6,000 orders in the year and a full
    pending list: prune sheds the cheapest data first and never the exactly-once ids."""
    rng = random.Random(5)
    agg = aggregates.empty()
    for i in range(6_000):
        aggregates.apply(agg, ev("order_paid", rng.uniform(0, 364), order_id=f"o{i}",
                                 amount="999999999999.99"))
    for i in range(aggregates.MAX_UNMATCHED_REFUNDS):
        aggregates.apply(agg, ev("order_refunded", rng.uniform(0, 364), order_id=f"u{i}"))
    for i in range(aggregates.MAX_PLANS):
        for etype in ("message_read", "message_clicked", "message_replied", "unsubscribed",
                      "voucher_claimed", "voucher_redeemed"):
            for _ in range(aggregates.PER_PLAN):
                aggregates.apply(agg, ev(etype, rng.uniform(0, 300), plan_id=_long("pl", i),
                                         voucher_id="v"))
    for day in range(365):
        for etype in sorted(CUSTOMER_EVENT_TYPES - {"order_paid"}):
            agg["daily"].setdefault(etype, {})[str(ms(day) // aggregates.DAY_MS)] = 99_999
    for i in range(aggregates.MAX_CART):
        aggregates.apply(agg, ev("cart_added", 1, product_id=_long("p", i)))
        aggregates.apply(agg, ev("favorited", 1, product_id=_long("f", i)))
    for i in range(100):
        aggregates.apply(agg, ev("payment_started", 1, order_id=_long("ps", i)))
    agg["ids"] = [_long("e", i) for i in range(500)]
    before = aggregates.size(agg)
    lifetime = aggregates.stats(agg)

    aggregates.prune(agg, aggregates.to_ms(NOW))

    after = aggregates.size(agg)
    assert before > 2 * aggregates.MAX_BYTES and after <= aggregates.MAX_BYTES, (before, after)
    assert agg["ids"] == [_long("e", i) for i in range(500)]
    kept = aggregates.stats(agg)
    assert (kept.order_count, kept.total_paid, kept.first_order_at, kept.last_order_at) == (
        lifetime.order_count, lifetime.total_paid, lifetime.first_order_at, lifetime.last_order_at)
    assert aggregates.paid_orders(agg)[-1][0] == lifetime.last_order_at   # newest stay exact
