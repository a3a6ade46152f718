"""Delivery rules (SPEC.md §4 "Delivery rules"): skip reasons, chunking, keys and codes."""

from __future__ import annotations

import pytest

from chalicelib.domain import aggregates
from chalicelib.domain import delivery as rules


def recipient(blocked=False, unsubscribed=False, phone=True):
    return rules.Recipient("c1", blocked, unsubscribed, phone)


@pytest.mark.parametrize("who, channels, marketing, sends, cap, expected", [
    (recipient(), ["chat"], True, 0, None, None),
    (recipient(blocked=True), ["chat"], True, 0, None, "blocked"),
    (recipient(unsubscribed=True), ["chat"], True, 0, None, "unsubscribed"),
    (recipient(blocked=True, unsubscribed=True), ["chat"], True, 0, None, "blocked"),
    (recipient(phone=False), ["chat"], True, 0, None, None),
    (recipient(phone=False), ["sms"], False, 0, None, "no_phone"),
    (recipient(phone=False), ["chat", "voice"], False, 0, None, "no_phone"),
    (recipient(), ["chat"], True, 2, (3, 7), None),
    (recipient(), ["chat"], True, 3, (3, 7), "frequency_cap"),
    (recipient(), ["chat"], False, 9, (3, 7), None),
])
def test_skip_reason_first_rule_that_applies_wins(who, channels, marketing, sends, cap, expected):
    assert rules.skip_reason(who, channels, marketing, sends, cap) == expected


def test_frequency_cap_counts_only_delivered_marketing_messages():
    outcomes = [[{"customer_id": "a", "status": "delivered"}, {"customer_id": "b", "status": "failed"}],
                [{"customer_id": "a", "status": "delivered"},
                 {"customer_id": "c", "status": "skipped", "reason": "blocked"}]]
    assert rules.sends_per_customer(outcomes) == {"a": 2}


def test_blocked_then_unblocked_customer_is_eligible_again():
    agg = aggregates.empty()
    agg["last"]["blocked"], agg["last"]["unblocked"] = 1_000, 2_000
    assert rules.recipient_of("c1", agg, None).blocked is False
    agg["last"]["blocked"] = 3_000
    assert rules.recipient_of("c1", agg, None).blocked is True


@pytest.mark.parametrize("count, size, expected_sizes", [
    (0, 250, []), (1, 250, [1]), (250, 250, [250]), (251, 250, [250, 1]), (1000, 300, [300, 300, 300, 100]),
])
def test_chunks_hold_at_most_chunk_size_and_cover_everyone_once(count, size, expected_sizes):
    ids = [f"c{i:05d}" for i in reversed(range(count))]
    cut = rules.chunked(ids, size)
    assert [len(c) for c in cut] == expected_sizes
    assert sorted(x for c in cut for x in c) == sorted(ids)


def test_same_audience_is_cut_into_the_same_chunks_whatever_the_order():
    ids = [f"c{i}" for i in range(20)]
    assert rules.chunked(ids, 6) == rules.chunked(list(reversed(ids)), 6)


def test_delivery_key_names_plan_customer_and_channel_not_a_message_id():
    assert rules.delivery_key("p1", "c1", "chat") == "p1#c1#chat"
    assert rules.message_id("p1#c1#chat") == rules.message_id("p1#c1#chat")
    assert rules.message_id("p1#c1#chat") != rules.message_id("p1#c2#chat")


def test_private_voucher_code_is_stable_per_recipient_and_unique_across_recipients():
    codes = {rules.voucher_code(rules.delivery_key("p1", f"c{i}", "chat"), "v1", secret=b"s")
             for i in range(5000)}
    assert len(codes) == 5000
    key = rules.delivery_key("p1", "c1", "chat")
    assert rules.voucher_code(key, "v1", secret=b"s") == rules.voucher_code(key, "v1", secret=b"s")
    assert rules.voucher_code(key, "v1", secret=b"s") != rules.voucher_code(key, "v2", secret=b"s")


def test_chunk_counters_count_each_outcome_once_and_skips_by_reason():
    outcomes = [{"status": "delivered"}, {"status": "delivered"}, {"status": "failed"},
                {"status": "skipped", "reason": "blocked"}, {"status": "skipped", "reason": "cancelled"}]
    assert rules.chunk_counters(outcomes) == {"delivered": 2, "failed": 1, "skipped_blocked": 1,
                                              "skipped_cancelled": 1}


@pytest.mark.parametrize("per_channel, expected", [
    ({"chat": "delivered"}, "delivered"), ({"chat": "failed", "sms": "delivered"}, "delivered"),
    ({"chat": "failed"}, "failed"),
])
def test_a_recipient_counts_delivered_when_any_channel_delivered(per_channel, expected):
    assert rules.row_status(per_channel) == expected
