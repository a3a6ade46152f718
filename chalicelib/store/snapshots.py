"""Per-seller columnar snapshots: Parquet objects in S3 and one manifest per seller
(docs/segments.md, "Snapshot and read-your-writes").

The manifest (a DynamoDB item, version-conditioned writes) names the seller's base object
and its delta objects, oldest first, and holds the per-customer-shard watermarks the read
path needs: ``marks[k]`` is the largest ``changed_at`` the snapshot has applied for the pk
``seller#k``. Every customer changed since then (``changed_at >= marks[k] - MARGIN_MS``) is
read from the table (``changed_since``) and laid over the snapshot, so a read is exact
whatever the stream's lag.

Object keys are never reused (a new uuid per object), so a file once downloaded is good for
ever: ``current`` keeps them in a local cache and fetches only keys it has not seen.
Writing the objects and committing the manifest is chalicelib/snapshots.py's job (it needs
the columnar engine, which this layer may not import).
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, VersionAttribute

from chalicelib.settings import settings
from chalicelib.store.aws import client, ensure_bucket
from chalicelib.store.base import BaseModel, meta, shard_pks
from chalicelib.store.customers import (
    TICK_ID,
    CompactJSONAttribute,
    CustomerItem,
    batch_get_pks,
    customers_only,
    write_ticks,
)
from chalicelib.store.customers import changed_since as changed_ids
from chalicelib.store.segments import RULE_FIELDS
from chalicelib.store.versioning import VersionConflict, conditional_save

# How far before a watermark the read path looks: more than the clock skew between any two
# writers plus the time from computing ``changed_at`` to the write landing, botocore's
# retries included (8 attempts, standard mode: at most ~20 s of backoff). See the doc.
MARGIN_MS = 60_000
# What the read path needs of an overlaid customer, and what the consumer orders by.
OVERLAY_FIELDS = [*RULE_FIELDS, "pk", "changed_at", "version"]
PREFIX = "snapshots/"
# A cached file the current manifest no longer names is deleted after this long (a reader
# that took the previous manifest a moment ago may still be opening it).
CACHE_GRACE_S = 300


@dataclass(frozen=True)
class Snapshot:
    seller_id: str
    files: list[str]          # LOCAL Parquet paths, base first then deltas oldest first
    marks: dict[int, int]     # per customer shard index: changed_at watermark (ms)
    latest_ms: int | None     # latest kept event time in those files


class ManifestItem(BaseModel):
    """One seller's snapshot. ``base``: {"key", "rows", "latest_ms"} or None; ``deltas``:
    a list of the same, oldest first; ``marks``: {"<shard>": ms}."""
    Meta = meta("snapshots")
    seller_id = UnicodeAttribute(hash_key=True)
    base = CompactJSONAttribute(null=True)
    deltas = CompactJSONAttribute(default=list)
    marks = CompactJSONAttribute(default=dict)
    latest_ms = NumberAttribute(null=True)
    built_at = NumberAttribute(default=0)      # ms: when the base was last rebuilt or merged
    # ms: when a tick should follow the latest change applied (docs/segments.md, "Ticks");
    # None once ticked
    tick_at = NumberAttribute(null=True)
    version = VersionAttribute()

    def keys(self) -> list[str]:
        return ([self.base["key"]] if self.base else []) + [d["key"] for d in self.deltas or []]

    def mark_map(self) -> dict[int, int]:
        return {int(k): int(v) for k, v in (self.marks or {}).items()}

    @property
    def rows(self) -> int:
        return (self.base or {}).get("rows", 0) + self.delta_rows

    @property
    def delta_rows(self) -> int:
        return sum(d.get("rows", 0) for d in self.deltas or [])


# ----- manifests -------------------------------------------------------------------------

def manifest(seller_id: str) -> ManifestItem | None:
    """The seller's manifest, strongly consistent, or None before its first snapshot."""
    try:
        return ManifestItem.get(seller_id, consistent_read=True)
    except ManifestItem.DoesNotExist:
        return None


def new_manifest(seller_id: str) -> ManifestItem:
    return ManifestItem(seller_id=seller_id, base=None, deltas=[], marks={}, latest_ms=None)


def save_manifest(item: ManifestItem) -> None:
    """Conditional on the version read (a new one: on its absence); VersionConflict when
    another writer committed meanwhile."""
    conditional_save(item, item.seller_id)


def due_ticks(now_ms: int) -> list[ManifestItem]:
    """The manifests whose tick is due (a scan: one small item per seller)."""
    return [m for m in ManifestItem.scan(ManifestItem.tick_at <= now_ms)]


def is_tick(item: CustomerItem) -> bool:
    return item.customer_id == TICK_ID


def tick(seller_id: str, now_ms: int) -> None:
    write_ticks(seller_id, now_ms)


def sellers() -> list[str]:
    """Every seller that has a snapshot (an operator's full rebuild walks these)."""
    return [m.seller_id for m in ManifestItem.scan(attributes_to_get=["seller_id"])]


def combine_latest(*values: int | None) -> int | None:
    known = [v for v in values if v is not None]
    return max(known) if known else None


# ----- objects ---------------------------------------------------------------------------

def bucket() -> str:
    name = settings().snapshot_bucket
    if not name:
        raise RuntimeError("no snapshot bucket configured (CRM_SNAPSHOT_BUCKET)")
    return name


def create_bucket() -> None:
    """The offline stages' bucket in moto (the template creates it on AWS)."""
    ensure_bucket(bucket())


def new_key(seller_id: str, kind: str) -> str:
    """A fresh object key: ``snapshots/<seller>/<kind>-<ms>-<uuid>.parquet``."""
    return f"{PREFIX}{seller_id}/{kind}-{int(time.time() * 1000)}-{uuid.uuid4().hex}.parquet"


def put_file(key: str, path: str) -> None:
    client("s3").upload_file(path, bucket(), key)


def delete_objects(keys: list[str]) -> None:
    s3 = client("s3")
    for start in range(0, len(keys), 1000):
        s3.delete_objects(Bucket=bucket(), Delete={
            "Objects": [{"Key": k} for k in keys[start:start + 1000]], "Quiet": True})


def objects(seller_id: str) -> list[dict[str, Any]]:
    """Every object under the seller's prefix: {"key", "modified_ms"}."""
    out = []
    for page in client("s3").get_paginator("list_objects_v2").paginate(
            Bucket=bucket(), Prefix=f"{PREFIX}{seller_id}/"):
        out += [{"key": o["Key"], "modified_ms": int(o["LastModified"].timestamp() * 1000)}
                for o in page.get("Contents", [])]
    return out


class ObjectGone(Exception):
    """A key of the manifest read a moment ago was swept since (a newer manifest exists)."""


_fetch_lock = threading.Lock()
_fetching: dict[str, threading.Lock] = {}


def cache_dir() -> Path:
    return Path(settings().snapshot_cache_dir)


def local_path(key: str) -> Path:
    return cache_dir() / key.removeprefix(PREFIX)


def fetch(key: str) -> str:
    """The local path of an object, downloaded once (keys are immutable); ObjectGone when
    it no longer exists."""
    path = local_path(key)
    if path.exists():
        return str(path)
    with _fetch_lock:
        lock = _fetching.setdefault(key, threading.Lock())
    with lock:
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            part = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
            try:
                client("s3").download_file(bucket(), key, str(part))
            except Exception as exc:
                part.unlink(missing_ok=True)
                if _not_found(exc):
                    raise ObjectGone(key) from exc
                raise
            os.replace(part, path)   # atomic: a reader sees the whole file or none
    with _fetch_lock:
        _fetching.pop(key, None)
    return str(path)


def _not_found(exc: Exception) -> bool:
    code = str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))
    return code in ("404", "NoSuchKey", "NotFound")


def fetch_all(keys: list[str]) -> list[str]:
    if len(keys) <= 1:
        return [fetch(k) for k in keys]
    with ThreadPoolExecutor(max_workers=min(8, len(keys))) as pool:
        return list(pool.map(fetch, keys))


def evict(seller_id: str, keep: list[str]) -> None:
    """Delete the seller's cached files no manifest names any more (after a grace period)."""
    folder = cache_dir() / seller_id
    if not folder.is_dir():
        return
    wanted = {local_path(k).name for k in keep}
    cutoff = time.time() - CACHE_GRACE_S
    for path in folder.iterdir():
        try:
            if path.name not in wanted and path.stat().st_mtime < cutoff:
                path.unlink()
        except FileNotFoundError:
            pass


# ----- the read path's interface ---------------------------------------------------------

def current(seller_id: str) -> Snapshot | None:
    """The seller's snapshot as its manifest names it now (strongly consistent read), its
    files on local disk; None when the seller has no snapshot yet."""
    for _ in range(5):
        item = manifest(seller_id)
        if item is None:
            return None
        try:
            files = fetch_all(item.keys())
        except ObjectGone:
            continue   # swept after a newer manifest was committed: read that one
        evict(seller_id, item.keys())
        return Snapshot(seller_id, files, item.mark_map(), item.latest_ms)
    raise RuntimeError(f"the snapshot of {seller_id} kept moving while it was read")


def changed_versions(seller_id: str, marks: dict[int, int]) -> dict[str, tuple[int, int]]:
    """{customer id: (shard, version)} of every customer of the seller whose ``changed_at``
    is at least ``marks[shard] - MARGIN_MS`` (0 for a shard without a mark): per shard one
    strongly consistent Query of ``by_change``, which holds the item's version."""
    pks = shard_pks(seller_id)

    def one(shard: int) -> dict[str, tuple[int, int]]:
        found = changed_ids(pks[shard], marks.get(shard, 0) - MARGIN_MS)
        return {c: (shard, v) for c, v in found.items()}

    out: dict[str, tuple[int, int]] = {}
    with ThreadPoolExecutor(max_workers=len(pks)) as pool:
        for part in pool.map(one, range(len(pks))):
            out.update(part)
    return out


def read_changed(seller_id: str, wanted: dict[str, int]) -> list[CustomerItem]:
    """The items of these customers ({id: shard}) by key, strongly consistent, with
    ``OVERLAY_FIELDS``, 100 keys a request, the requests in parallel."""
    pks = shard_pks(seller_id)
    keys = [(pks[shard], c) for c, shard in sorted(wanted.items())]
    parts = [keys[i:i + 100] for i in range(0, len(keys), 100)]
    if len(parts) <= 1:
        return batch_get_pks(parts[0], OVERLAY_FIELDS) if parts else []
    with ThreadPoolExecutor(max_workers=min(8, len(parts))) as pool:
        return [item for got in pool.map(lambda k: batch_get_pks(k, OVERLAY_FIELDS), parts)
                for item in got]


def changed_since(seller_id: str, marks: dict[int, int]) -> list[CustomerItem]:
    """Every customer of the seller whose ``changed_at`` is at least ``marks[shard] -
    MARGIN_MS``, read by key (``changed_versions`` then ``read_changed``)."""
    found = changed_versions(seller_id, marks)
    return read_changed(seller_id, {c: shard for c, (shard, _) in found.items()})


# ----- the consumer's reads --------------------------------------------------------------

def item_of_image(image: dict[str, Any]) -> CustomerItem:
    """A customer item from a stream record's NewImage (DynamoDB JSON)."""
    return CustomerItem.from_raw_data(image)


def scan_shard(seller_id: str, shard: int) -> list[CustomerItem]:
    """Every customer of one pk, strongly consistent, with ``OVERLAY_FIELDS``."""
    return list(CustomerItem.query(shard_pks(seller_id)[shard], consistent_read=True,
                                   range_key_condition=customers_only(),
                                   attributes_to_get=OVERLAY_FIELDS))


def stream_sellers(stream_arn: str, shard_id: str, start: str, end: str,
                  limit: int = 100_000) -> set[str]:
    """The sellers whose customers the stream records ``start``..``end`` of one shard
    changed (what a Lambda failure record points at). Raises when the records are gone
    (trimmed after 24 h): the caller then rebuilds every seller."""
    streams = client("dynamodbstreams")
    iterator = streams.get_shard_iterator(StreamArn=stream_arn, ShardId=shard_id,
                                          ShardIteratorType="AT_SEQUENCE_NUMBER",
                                          SequenceNumber=start)["ShardIterator"]
    found: set[str] = set()
    seen = 0
    while iterator and seen < limit:
        got = streams.get_records(ShardIterator=iterator, Limit=1000)
        records = got.get("Records", [])
        for record in records:
            pk = record["dynamodb"].get("Keys", {}).get("pk", {}).get("S", "")
            if "#" in pk:
                found.add(pk.rsplit("#", 1)[0])
            if int(record["dynamodb"]["SequenceNumber"]) >= int(end):
                return found
        seen += len(records)
        if not records:
            break
        iterator = got.get("NextShardIterator")
    return found


__all__ = ["MARGIN_MS", "ManifestItem", "ObjectGone", "Snapshot", "VersionConflict",
           "changed_since", "current", "manifest"]
