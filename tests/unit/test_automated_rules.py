"""The pure rules of automated plans (API.md "Automated plans"), table-driven."""

from __future__ import annotations

from decimal import Decimal

import pytest

from chalicelib.domain import aggregates
from chalicelib.domain import automated as rules
from chalicelib.domain.aggregates import order_key

H, M = rules.HOUR_MS, rules.MINUTE_MS
NOW = 1_800_000_000_000


def trigger(kind: str, **extra) -> dict:
    parsed, problems = rules.parse_trigger({"type": kind, **extra})
    assert not problems
    return parsed


def event(etype: str, at: int, **extra) -> dict:
    return {"type": etype, "customer_id": "c1", "occurred_ms": at, "event_id": "e1", **extra}


@pytest.mark.parametrize("kind, etype, extra, due_after", [
    ("abandoned_cart", "cart_added", {}, 60 * M),
    ("abandoned_cart", "cart_added", {"delay_minutes": 0}, 0),
    ("abandoned_cart", "cart_added", {"delay_minutes": 10080}, 10080 * M),
    ("incomplete_payment", "payment_started", {}, 30 * M),
    ("incomplete_payment", "payment_started", {"delay_minutes": 5}, 5 * M),
    ("thank_you", "order_paid", {}, 0),
    ("thank_you", "order_paid", {"delay_minutes": 90}, 90 * M),
])
def test_due_time_is_counted_from_occurred_at(kind, etype, extra, due_after):
    at = NOW - 2 * H
    occ = rules.occurrence_for(trigger(kind, **extra), event(etype, at, order_id="o1",
                                                             product_id="p1"), None, NOW)
    assert occ is not None and occ.due_ms == at + due_after


@pytest.mark.parametrize("kind, etype", [("abandoned_cart", "payment_started"),
                                         ("thank_you", "cart_added"),
                                         ("incomplete_payment", "order_paid")])
def test_an_event_of_another_type_fires_nothing(kind, etype):
    assert rules.occurrence_for(trigger(kind), event(etype, NOW, order_id="o"), None, NOW) is None


@pytest.mark.parametrize("age, fires", [(0, True), (24 * H, True), (24 * H + 1, False)])
def test_only_events_of_the_last_24_hours_trigger(age, fires):
    occ = rules.occurrence_for(trigger("thank_you"), event("order_paid", NOW - age, order_id="o"),
                               None, NOW)
    assert (occ is not None) is fires


@pytest.mark.parametrize("starts_in, lead, due_in", [
    (60 * M, 10, 50 * M), (5 * M, 10, 0), (10 * M, 10, 0), (2 * H, 0, 2 * H)])
def test_live_reminder_is_due_lead_minutes_before_it_starts_or_at_once(starts_in, lead, due_in):
    assert rules.live_due(trigger("live_reminder", lead_minutes=lead), NOW + starts_in, NOW) \
        == NOW + due_in


@pytest.mark.parametrize("old, new, minimum, fires", [
    ("100", "95", 5, True), ("100", "95.01", 5, False), ("100", "50", 50, True),
    ("100", "100", 1, False), ("0", "0", 1, False)])
def test_price_drop_fires_at_min_drop_percent(old, new, minimum, fires):
    ev = event("price_dropped", NOW, old_price=old, new_price=new, product_id="p")
    assert rules.price_drop_fires(trigger("price_drop", min_drop_percent=minimum), ev, NOW) is fires


@pytest.mark.parametrize("interest_ago, paid_ago, wanted", [
    (1 * H, None, True), (30 * 24 * H, None, True), (30 * 24 * H + 1, None, False),
    (5 * H, 6 * H, True),      # paid before the latest favourite: still interested
    (5 * H, 4 * H, False),     # paid an order containing it since
    (None, None, False)])
def test_price_drop_audience(interest_ago, paid_ago, wanted):
    interest = None if interest_ago is None else NOW - interest_ago
    paid = None if paid_ago is None else NOW - paid_ago
    assert rules.price_drop_interested(interest, paid, NOW) is wanted


def cart_agg(lines: dict, paid: list[int] = (), refunded: dict | None = None) -> dict:
    agg = aggregates.empty()
    agg["cart"] = {pid: list(v) for pid, v in lines.items()}
    for i, at in enumerate(paid):
        agg["orders"][order_key(f"o{i}")] = [at, "10.00", None]
        agg["last"]["order_paid"] = max(agg["last"].get("order_paid", 0), at)
    return agg


def test_cart_holds_up_to_four_products_latest_first_and_a_paid_order_empties_it():
    agg = cart_agg({"a": (1, None), "b": (5, None), "c": (3, 4), "d": (7, None), "e": (8, None),
                    "f": (9, None), "g": (10, None)})
    assert rules.cart_products(agg) == ["g", "f", "e", "d", "b", "a"]
    assert rules.message_products("abandoned_cart", {}, agg) == ["g", "f", "e", "d"]
    paid = cart_agg({"a": (1, None), "b": (5, None)}, paid=[3])
    assert rules.cart_products(paid) == ["b"]


def test_the_cart_episode_starts_at_the_last_paid_order_before_the_cart_event():
    agg = cart_agg({}, paid=[100, 300])
    assert rules.cart_episode(agg, 50) == 0
    assert rules.cart_episode(agg, 200) == 100
    assert rules.cart_episode(agg, 400) == 300


@pytest.mark.parametrize("kind, data, agg, now, gone", [
    ("abandoned_cart", {"cart_ms": 10}, cart_agg({"a": (10, None)}), NOW, False),
    ("abandoned_cart", {"cart_ms": 10}, cart_agg({"a": (10, None)}, paid=[20]), NOW, True),
    ("abandoned_cart", {"cart_ms": 10}, cart_agg({"a": (10, 15)}), NOW, True),
    ("incomplete_payment", {"order_id": "o0"}, cart_agg({}), NOW, False),
    ("incomplete_payment", {"order_id": "o0"}, cart_agg({}, paid=[5]), NOW, True),
    ("thank_you", {"order_id": "o0"}, cart_agg({}, paid=[5]), NOW, False),
    ("live_reminder", {"starts_ms": NOW + 1}, cart_agg({}), NOW, False),
    ("live_reminder", {"starts_ms": NOW}, cart_agg({}), NOW, True),
    ("price_drop", {"product_id": "p"}, cart_agg({}), NOW, False),
])
def test_a_due_message_that_no_longer_qualifies_exits(kind, data, agg, now, gone):
    assert rules.exited(kind, data, agg, now) is gone


@pytest.mark.parametrize("starts, now, at_start, gone", [
    (NOW + 1, NOW, False, False),              # before the start: sent
    (NOW, NOW, False, True),                   # a reminder with a lead, at or after the start
    (NOW, NOW, True, False),                   # lead 0: due at the start, sent at the start
    (NOW - 59_999, NOW, True, False),          # ... by a sweep within the timer's bound
    (NOW - 60_000, NOW, True, True),           # ... not a minute or more after it
    (NOW - 3_600_000, NOW, True, True),        # deferred (quiet hours) well past the start
])
def test_a_live_reminder_qualifies_until_the_start_or_at_it_with_no_lead(starts, now, at_start,
                                                                          gone):
    assert rules.exited("live_reminder", {"starts_ms": starts}, cart_agg({}), now,
                        at_start=at_start) is gone


def test_thank_you_exits_when_the_order_was_refunded():
    agg = cart_agg({}, paid=[5])
    agg["orders"][order_key("o0")][aggregates.REFUNDED] = 6
    assert rules.exited("thank_you", {"order_id": "o0"}, agg, NOW)


@pytest.mark.parametrize("holding, reason", [
    ({"holdout", "frequency_cap", "cooldown"}, "cooldown"),
    ({"holdout", "frequency_cap"}, "frequency_cap"),
    ({"not_in_audience", "paused"}, "paused"),
    ({"unsubscribed", "blocked"}, "blocked"),
    ({"exited", "unsubscribed"}, "unsubscribed"),
    ({"outside_window", "exited"}, "exited"),
    ({"not_in_audience", "outside_window"}, "outside_window"),
    ({"holdout"}, "holdout"),
    (set(), None),
])
def test_the_first_skip_reason_in_the_table_order_is_given(holding, reason):
    ran = []

    def check(name):
        return lambda: ran.append(name) or name in holding

    assert rules.first_reason([(r, check(r)) for r in reversed(rules.SKIP_ORDER)]) == reason
    if reason is not None:   # checks after the first that holds never run
        assert ran[-1] == reason


def voucher(vid, min_spend=None, kind="regular", dtype="amount", value="10", **extra):
    return {"voucher_id": vid, "kind": kind, "min_spend": min_spend,
            "discount": {"type": dtype, "value": value}, **extra}


@pytest.mark.parametrize("candidates, basket, picked", [
    # the smallest min_spend above the basket, at most 1.5 x the basket
    ([voucher("a", "140"), voucher("b", "120"), voucher("c", "50")], "100", "b"),
    ([voucher("a", "150")], "100", "a"),                       # exactly 1.5 x: a nudge
    ([voucher("a", "150.01"), voucher("c", "50")], "100", "c"),  # too far: the best usable
    # usable now: the largest discount on the basket
    ([voucher("a", "50", value="10"), voucher("b", None, dtype="percent", value="15")], "100", "b"),
    ([voucher("a", "50", value="20"), voucher("b", None, dtype="percent", value="15")], "100", "a"),
    ([voucher("a", "100", value="5"), voucher("b", "100", value="5")], "100", "a"),  # tie: first
    ([voucher("a", "200")], "100", None),                       # nothing fits
    ([], "100", None),
])
def test_smart_voucher_picks_as_api_md_says(candidates, basket, picked):
    got = rules.smart_voucher(candidates, Decimal(basket))
    assert (got["voucher_id"] if got else None) == picked


@pytest.mark.parametrize("facts, ok", [
    ({}, True),
    ({"valid_from": NOW + 1}, False), ({"valid_until": NOW - 1}, False),
    ({"quantity": 3, "given": 2}, True), ({"quantity": 3, "given": 3}, False),
    ({"kind": "targeted", "segment_id": "in"}, True),
    ({"kind": "targeted", "segment_id": "out"}, False),
])
def test_smart_voucher_candidates_are_usable_now(facts, ok):
    assert rules.usable_now({**voucher("v"), **facts}, NOW, lambda s: s == "in") is ok


@pytest.mark.parametrize("raw, path", [
    ({"type": "nope"}, "trigger"),
    ({"type": "abandoned_cart", "delay_minutes": 10081}, "trigger.delay_minutes"),
    ({"type": "live_reminder", "lead_minutes": -1}, "trigger.lead_minutes"),
    ({"type": "price_drop", "min_drop_percent": 100}, "trigger.min_drop_percent"),
    ("cart", "trigger"),
])
def test_a_bad_trigger_is_named_by_its_path(raw, path):
    parsed, problems = rules.parse_trigger(raw)
    assert parsed is None and problems[0]["path"].startswith(path)


@pytest.mark.parametrize("form, path", [
    ({"trigger": {"type": "live_reminder"}}, "audience"),
    ({"trigger": {"type": "thank_you"}, "window": {"end": NOW - 1}}, "window.end"),
    ({"trigger": {"type": "thank_you"}, "window": {"start": NOW + 10, "end": NOW + 5}},
     "window.end"),
    ({"trigger": {"type": "thank_you"}, "channels": ["sms"]}, "channels"),
])
def test_form_problems_name_the_field(form, path):
    assert path in [p["path"] for p in rules.form_problems(form, NOW, sending=False)]


@pytest.mark.parametrize("kind, button", [
    ("abandoned_cart", {"type": "cart"}), ("incomplete_payment", {"type": "cart"}),
    ("price_drop", {"type": "cart"}), ("live_reminder", {"type": "live", "target": "L1"}),
    ("thank_you", {"type": "product_list"})])
def test_button_defaults(kind, button):
    assert rules.default_button({"type": kind}, "L1") == button


def test_holdout_is_a_stable_share():
    held = [rules.held_out("pl", f"c{i}", 20) for i in range(2000)]
    assert held == [rules.held_out("pl", f"c{i}", 20) for i in range(2000)]
    assert 300 < sum(held) < 500
    assert not any(rules.held_out("pl", f"c{i}", 0) for i in range(100))


@pytest.mark.parametrize("trigger, at_start", [
    ({"type": "live_reminder", "lead_minutes": 0}, True),
    ({"type": "live_reminder", "lead_minutes": 5}, False),
    ({"type": "live_reminder"}, False),                       # the default lead, 10 minutes
    ({"type": "thank_you", "delay_minutes": 0}, False),
])
def test_only_a_live_reminder_with_no_lead_time_reminds_at_the_start(trigger, at_start):
    assert rules.reminds_at_start(trigger) is at_start
