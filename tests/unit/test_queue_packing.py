"""SQS's limits, kept by construction: message bodies within 256 KiB and a count, batches
within 10 entries and 256 KiB in all; every item once, in order."""

from __future__ import annotations

import json
import random

import pytest

from chalicelib.store import queues


def wrap(chunk: list) -> dict:
    return {"seller_id": "s-1", "events": chunk}


@pytest.mark.parametrize("item_bytes, max_items", [(10, 50), (5_000, 50), (13_500, 50),
                                                   (100_000, 50), (262_000 - 40, 50), (300, 3)])
def test_bodies_hold_every_item_once_within_the_message_size_and_count(item_bytes, max_items):
    items = [{"id": i, "pad": "x" * item_bytes} for i in range(120)]
    bodies = queues.pack(items, wrap, max_items)
    assert [e for b in bodies for e in b["events"]] == items
    assert all(queues.body_bytes(b) <= queues.MAX_MESSAGE_BYTES for b in bodies)
    assert all(len(b["events"]) <= max_items for b in bodies)


def test_bodies_are_filled_up_to_the_limit_not_split_early():
    item = {"pad": "x" * 1000}
    per_body = (queues.MAX_MESSAGE_BYTES - queues.body_bytes(wrap([]))) // (queues.body_bytes(item) + 1)
    bodies = queues.pack([item] * (per_body * 3), wrap, 10_000)
    assert [len(b["events"]) for b in bodies] == [per_body] * 3


def test_an_item_too_large_for_any_message_is_refused():
    with pytest.raises(ValueError, match="cannot fit"):
        queues.pack([{"pad": "x" * queues.MAX_MESSAGE_BYTES}], wrap, 50)


def test_batches_hold_at_most_10_entries_and_256_kib_in_all():
    rng = random.Random(3)
    texts = [json.dumps({"n": i, "pad": "x" * (10 if i < 25 else rng.choice([10, 60_000, 200_000]))})
             for i in range(200)]
    groups = queues.batches(texts)
    assert [t for g in groups for t in g] == texts
    assert all(len(g) <= 10 and sum(map(len, g)) <= queues.MAX_BATCH_BYTES for g in groups)
    assert max(len(g) for g in groups) == 10


def test_a_message_over_the_limit_is_never_sent():
    with pytest.raises(ValueError, match="over SQS's limit"):
        queues.batches(["x" * (queues.MAX_MESSAGE_BYTES + 1)])
