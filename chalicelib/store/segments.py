"""Segments table: the custom segments of each seller (built-ins live in domain/builtins.py).

The stored rule names tags by id (``tag_ids`` nodes), so renaming a tag keeps every
segment that uses it; the service turns ids back into names when it shows a rule.
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from queue import Queue

from pynamodb.attributes import (
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    VersionAttribute,
)

from chalicelib.store.base import BaseModel, get_or_none, meta, shard_pks
from chalicelib.store.customers import CustomerItem, customers_only
from chalicelib.store.versioning import (  # noqa: F401  (store.VersionConflict)
    VersionConflict,
    conditional_delete,
    conditional_save,
)


class SegmentItem(BaseModel):
    Meta = meta("segments")
    seller_id = UnicodeAttribute(hash_key=True)
    segment_id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    rule = JSONAttribute()                     # normalised, tags by id
    refs = ListAttribute(default=list)         # segment ids the rule reuses directly
    warnings = ListAttribute(default=list)
    created_at = NumberAttribute(default=0)    # ms
    updated_at = NumberAttribute(default=0)
    created_by = UnicodeAttribute(null=True)
    version = VersionAttribute()


def get(seller_id: str, segment_id: str) -> SegmentItem | None:
    return get_or_none(SegmentItem, seller_id, segment_id)


def all_segments(seller_id: str) -> list[SegmentItem]:
    """Every custom segment of a seller, by id (one partition; sellers have few)."""
    return list(SegmentItem.query(seller_id, consistent_read=True))


def save(item: SegmentItem) -> None:
    """Create or update, conditional on ``version`` (a new item must not exist yet)."""
    conditional_save(item, item.segment_id)


def delete(item: SegmentItem) -> None:
    """Delete the version that was read; VersionConflict when it moved on meanwhile."""
    conditional_delete(item, item.segment_id)


# What a rule can read (profile.from_record); names and phones stay in the table.
RULE_FIELDS = ["customer_id", "age", "gender", "region", "language", "tags", "agg",
               "created_at"]   # created_at: tag health counts a quiet customer from it


def customers(seller_id: str) -> Iterator[CustomerItem]:
    """Every customer of a seller for segment evaluation (only the fields rules read): one
    thread per shard, strongly consistent (a preview right after a write must see it), items
    handed on as each shard's pages arrive."""
    pks = shard_pks(seller_id)
    results: Queue = Queue()   # unbounded: a consumer that stops early must not block readers
    done = object()

    def read(pk: str) -> None:
        try:
            batch: list[CustomerItem] = []
            for item in CustomerItem.query(pk, consistent_read=True,
                                           range_key_condition=customers_only(),
                                           attributes_to_get=RULE_FIELDS):
                batch.append(item)
                if len(batch) == 500:
                    results.put(batch)
                    batch = []
            results.put(batch)
        except Exception as exc:  # handed to the consumer, which re-raises it
            results.put(exc)
        finally:
            results.put(done)

    with ThreadPoolExecutor(max_workers=len(pks)) as pool:
        for pk in pks:
            pool.submit(read, pk)
        finished = 0
        while finished < len(pks):
            got = results.get()
            if got is done:
                finished += 1
            elif isinstance(got, Exception):
                raise got
            else:
                yield from got
