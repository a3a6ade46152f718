"""The snapshot consumer's pure parts: grouping a stream batch, when compaction is due, the
snapshot row's bookkeeping columns (docs/segments.md, "Snapshot and read-your-writes")."""

from __future__ import annotations

import pytest

from chalicelib import snapshots
from chalicelib.domain import columnar
from chalicelib.domain.profile import Profile
from chalicelib.store.snapshots import ManifestItem


def record(seller: str, shard: int, cid: str, version: int, changed_at: int, age: int = 30,
           event: str = "MODIFY") -> dict:
    return {"eventName": event, "dynamodb": {
        "Keys": {"pk": {"S": f"{seller}#{shard}"}, "customer_id": {"S": cid}},
        "NewImage": {"pk": {"S": f"{seller}#{shard}"}, "customer_id": {"S": cid},
                     "seller_id": {"S": seller}, "age": {"N": str(age)},
                     "version": {"N": str(version)}, "changed_at": {"N": str(changed_at)}}}}


def test_a_batch_keeps_the_highest_version_per_customer_and_the_largest_changed_at_per_shard():
    items, marks, removed = snapshots.group([
        record("s1", 2, "a", 3, 300, age=33),
        record("s1", 2, "a", 2, 400, age=22),     # an older version stamped later (skew)
        record("s1", 5, "b", 1, 100),
        record("s2", 0, "c", 7, 700),
        {"eventName": "REMOVE", "dynamodb": {"Keys": {"pk": {"S": "s3#1"},
                                                      "customer_id": {"S": "d"}}}},
    ])
    assert {s: {c: (i.version, i.age) for c, i in per.items()} for s, per in items.items()} == {
        "s1": {"a": (3, 33), "b": (1, 30)}, "s2": {"c": (7, 30)}}
    assert marks == {"s1": {2: 400, 5: 100}, "s2": {0: 700}}
    assert removed == {"s3"}


def manifest(base_rows: int | None, delta_rows: list[int]) -> ManifestItem:
    return ManifestItem(seller_id="s", base=None if base_rows is None else
                        {"key": "b", "rows": base_rows, "latest_ms": None},
                        deltas=[{"key": f"d{i}", "rows": n, "latest_ms": None}
                                for i, n in enumerate(delta_rows)], marks={})


@pytest.mark.parametrize("base_rows, deltas, due", [
    (1000, [], False),
    (1000, [1] * 8, False),          # 8 deltas, 8 rows: under both limits
    (1000, [1] * 9, True),           # more than MAX_DELTAS
    (1000, [60, 41], False),         # over DELTA_SHARE of the base but under DELTA_MIN_ROWS
    (30000, [1000, 1000], False),    # 2,000 rows: DELTA_MIN_ROWS, but under 10% of the base
    (10000, [1500, 500], True),      # 2,000 rows and 20% of the base
    (20000, [1000, 1000], False),    # 2,000 rows: 10% of the base, not over it
    (20000, [1000, 1001], True),     # over DELTA_SHARE of the base
    (None, [1999], False),           # no base yet: small deltas are cheap to read
    (None, [2000], True),            # ... until DELTA_MIN_ROWS
])
def test_compaction_is_due_after_more_than_8_deltas_or_more_than_10_percent_of_the_base(
        base_rows, deltas, due):
    assert snapshots.due(manifest(base_rows, deltas)) is due


def test_a_snapshot_row_ends_with_region_changed_at_version_and_what_health_reads():
    assert columnar.COLUMNS[-6:] == ("region", "changed_at", "version", "created_at",
                                     "seen_ms", "tag_text")
    row = columnar.row_of(Profile("c1", region="  Chiang  Mai ", tags=frozenset({"b", "a"})),
                          changed_at=5, version=2, created_at=3, seen_ms=4)
    assert row[-6:] == ("  Chiang  Mai ", 5, 2, 3, 4, "|a|b|")
    assert columnar.row_of(Profile("c1"))[-6:] == (None,) * 6
