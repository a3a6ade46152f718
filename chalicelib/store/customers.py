"""Customers table: profile + aggregates, partitioned per seller into shards."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from pynamodb.attributes import (
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    VersionAttribute,
)
from pynamodb.indexes import (
    AllProjection,
    GlobalSecondaryIndex,
    IncludeProjection,
    LocalSecondaryIndex,
)

from chalicelib.domain.errors import Invalid
from chalicelib.domain.ids import is_id
from chalicelib.settings import settings
from chalicelib.store.base import (  # noqa: F401  (shard_of is part of this API)
    BaseModel,
    customer_pk,
    get_or_none,
    is_conditional_failure,
    meta,
    shard_of,
    shard_pks,
)
from chalicelib.store.versioning import VersionConflict, conditional_save  # noqa: F401  (repo.VersionConflict)

# A watermark tick (docs/segments.md, "Ticks"): one item per pk that is no customer. "~" sorts
# after every character an id may hold (domain/ids.py), so every customer id is below ID_END
# and the tick above it; customer queries read only ``customer_id < ID_END``.
TICK_ID = "~tick"
ID_END = "~"


class ByPhone(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_phone"
        projection = AllProjection()

    seller_phone = UnicodeAttribute(hash_key=True)


class ByChange(LocalSecondaryIndex):
    """The customers of one pk in ``changed_at`` order: the snapshot's read path finds every
    customer changed since a watermark with one strongly consistent Query per shard
    (docs/segments.md, "Snapshot and read-your-writes"). Keys only: the index holds no copy
    of the aggregates, only the item's ``version``, so a reader can tell a change its
    snapshot already holds from one it must read (``changed_since``)."""

    class Meta:
        index_name = "by_change"
        projection = IncludeProjection(["version"])

    pk = UnicodeAttribute(hash_key=True)
    changed_at = NumberAttribute(range_key=True)


class CompactJSONAttribute(JSONAttribute):
    """JSON without the spaces after separators: the aggregates' size budget
    (domain/aggregates.py ``MAX_BYTES``) counts this exact encoding."""

    def serialize(self, value: Any) -> str | None:
        return None if value is None else json.dumps(value, separators=(",", ":"))


def _customers_meta() -> type:
    base = meta("customers")

    class Meta(base):   # type: ignore[misc, valid-type]
        # The snapshot follows this stream (chalicelib/snapshots.py); the new image is all
        # it reads.
        stream_view_type = "NEW_IMAGE"

    return Meta


class CustomerItem(BaseModel):
    Meta = _customers_meta()
    pk = UnicodeAttribute(hash_key=True)            # seller#shard
    customer_id = UnicodeAttribute(range_key=True)
    seller_id = UnicodeAttribute()
    name = UnicodeAttribute(null=True)
    phone = UnicodeAttribute(null=True)
    seller_phone = UnicodeAttribute(null=True)     # seller#E.164, for import matching
    age = NumberAttribute(null=True)
    gender = UnicodeAttribute(null=True)
    region = UnicodeAttribute(null=True)
    language = UnicodeAttribute(null=True)
    tags = UnicodeSetAttribute(null=True)           # tag ids
    agg = CompactJSONAttribute(null=True)
    created_at = NumberAttribute(default=0)        # ms
    updated_at = NumberAttribute(default=0)
    # Wall-clock ms of the latest write, set by ``save`` on every write (never by callers):
    # the range key of ``by_change`` and the snapshot's per-shard watermarks.
    changed_at = NumberAttribute(default=0)
    version = VersionAttribute()
    by_phone = ByPhone()
    by_change = ByChange()


def new_item(seller_id: str, customer_id: str, now_ms: int) -> CustomerItem:
    return CustomerItem(pk=customer_pk(seller_id, customer_id), customer_id=customer_id,
                        seller_id=seller_id, created_at=now_ms, updated_at=now_ms)


def get(seller_id: str, customer_id: str) -> CustomerItem | None:
    return get_or_none(CustomerItem, customer_pk(seller_id, customer_id), customer_id)


def batch_get(seller_id: str, customer_ids: list[str]) -> dict[str, CustomerItem]:
    keys = [(customer_pk(seller_id, c), c) for c in dict.fromkeys(customer_ids)]
    return {item.customer_id: item for item in CustomerItem.batch_get(keys, consistent_read=True)}


def now_ms() -> int:
    return int(time.time() * 1000)


# A write that returns later than this after its changed_at was computed (botocore's
# retries, a slow network) is stamped again before save returns, so the version a caller
# saw land always has a changed_at at most this old at landing: the snapshot's read margin
# (store/snapshots.MARGIN_MS) is this plus the clock skew budget (docs/segments.md).
STAMP_LATE_MS = 20_000


def save(item: CustomerItem) -> None:
    """Conditional write on ``version`` (a new item: on its absence); raises VersionConflict
    when the item moved on. Stamps ``changed_at`` with the wall clock just before the write,
    so every write, the first one too, is found by ``by_change``; stamps again when the
    write took longer than ``STAMP_LATE_MS`` (a later write moving it on meanwhile carries
    a fresh stamp of its own)."""
    item.changed_at = now_ms()
    conditional_save(item, item.customer_id)
    while now_ms() - item.changed_at > STAMP_LATE_MS:
        item.changed_at = now_ms()
        try:
            conditional_save(item, item.customer_id)
        except VersionConflict:
            return


def changed_since(pk: str, since_ms: int) -> dict[str, int]:
    """{customer id: version} of the customers of one pk whose ``changed_at`` is at least
    ``since_ms``: a strongly consistent Query of ``by_change`` (an LSI, so it may be)."""
    return {item.customer_id: int(item.version or 0) for item in CustomerItem.by_change.query(
        pk, range_key_condition=CustomerItem.changed_at >= since_ms, consistent_read=True,
        attributes_to_get=["customer_id", "version"]) if item.customer_id != TICK_ID}


def write_ticks(seller_id: str, now_ms: int) -> None:
    """A tick into each of the seller's pks: an item that is no customer, whose stream
    record tells the snapshot's consumer that every change of that pk written before it has
    been applied once it arrives (the records of one pk come in order)."""
    for pk in shard_pks(seller_id):
        CustomerItem(pk=pk, customer_id=TICK_ID, seller_id=seller_id,
                     changed_at=now_ms).save(add_version_condition=False)


def customers_only(after: str | None = None):
    """The range condition of a Query of one pk that reads customers, never the tick: the
    ids above ``after`` (" " sorts below every id character, so ``after + " "`` is below
    every id greater than ``after``)."""
    if after is None:
        return CustomerItem.customer_id < ID_END
    return CustomerItem.customer_id.between(after + " ", ID_END)


def batch_get_pks(keys: list[tuple[str, str]], attributes: list[str] | None = None
                  ) -> list[CustomerItem]:
    """Items by (pk, customer id), strongly consistent, only ``attributes`` when given."""
    if not keys:
        return []
    return list(CustomerItem.batch_get(keys, consistent_read=True, attributes_to_get=attributes))


def by_phone(seller_id: str, phone: str) -> CustomerItem | None:
    for item in CustomerItem.by_phone.query(f"{seller_id}#{phone}", limit=1):
        return item
    return None


def page(seller_id: str, limit: int, shard: int = 0, after: str | None = None
         ) -> tuple[list[CustomerItem], tuple[int, str] | None]:
    """One page across shards in order: returns items and the (shard, last id) to resume from."""
    pks = shard_pks(seller_id)
    items: list[CustomerItem] = []
    while shard < len(pks):
        want = limit - len(items)
        got = list(CustomerItem.query(pks[shard], range_key_condition=customers_only(after),
                                      limit=want,
                                      consistent_read=True))
        items.extend(got)
        if len(got) < want:  # this shard is exhausted: go on with the next
            shard, after = shard + 1, None
            continue
        return items, (shard, items[-1].customer_id)
    return items, None


def matching_page(seller_id: str, limit: int, cursor: dict | None,
                  keep: Callable[[CustomerItem], bool] | None = None
                  ) -> tuple[list[CustomerItem], dict | None]:
    """A page of the seller's customers that ``keep`` accepts (every one without it), in
    (shard, customer id) order, and the cursor of the next page (None after the last). The
    cursor is the last customer returned, so every match appears exactly once across pages;
    one that is not a cursor of this scan is a 400."""
    shard, after = resume_point(cursor)
    found: list[CustomerItem] = []
    while True:
        # A filter passes only some of what is read: read ahead rather than one item a call.
        items, resume = page(seller_id, limit if keep is None else max(limit * 2, 200),
                             shard, after)
        for index, item in enumerate(items):
            if keep is None or keep(item):
                found.append(item)
                if len(found) == limit:
                    more = index < len(items) - 1 or resume is not None
                    return found, ({"s": shard_of(item.customer_id), "a": item.customer_id}
                                   if more else None)
        if resume is None:
            return found, None
        shard, after = resume


def resume_point(cursor: dict | None) -> tuple[int, str | None]:
    """(shard, last customer id) of a ``matching_page`` cursor; anything else is a 400."""
    shard, after = (cursor or {}).get("s", 0), (cursor or {}).get("a")
    if (not isinstance(shard, int) or isinstance(shard, bool)
            or not 0 <= shard < settings().customer_shards
            or not (after is None or is_id(after))):
        raise Invalid("cursor is not valid", [{"path": "cursor", "message": "invalid cursor"}])
    return shard, after


def scan_seller(seller_id: str, workers: int | None = None) -> Iterator[CustomerItem]:
    """Every customer of a seller, reading the shards in parallel."""
    pks = shard_pks(seller_id)

    def read(pk: str) -> list[CustomerItem]:
        return list(CustomerItem.query(pk, range_key_condition=customers_only()))

    with ThreadPoolExecutor(max_workers=workers or len(pks)) as pool:
        for chunk in pool.map(read, pks):
            yield from chunk
