"""Keeping the per-seller columnar snapshots current (docs/segments.md, "Snapshot and
read-your-writes"): the customers table's stream consumer, compaction, full rebuilds and the
orphan sweep. The read side is chalicelib/audiences.py; the objects and manifests are
chalicelib/store/snapshots.py; the Parquet files are written with chalicelib/columnar.py.

    handle_stream(event)                 # Lambda on the customers stream (app.py)
    rebuild(seller_id)                   # python -m chalicelib.ops snapshot-rebuild <seller>

The one rule every writer keeps: a row enters the snapshot only when its item ``version``
is higher than the version the snapshot holds for that customer. So a later file is always
newer than an earlier one for any customer in both, duplicate and late deliveries change
nothing, and a rebuild racing the stream cannot be undone by a lagging batch.
"""

from __future__ import annotations

import os
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib import columnar as engine
from chalicelib.domain import columnar
from chalicelib.logs import get_logger, log
from chalicelib.settings import settings
from chalicelib.store import snapshots as store
from chalicelib.store.customers import CustomerItem
from chalicelib.store.versioning import VersionConflict, retry_on_conflict

logger = get_logger("snapshots")

# Compaction: merge the deltas into a new base when there are more than this many, or when
# their rows reach this share of the base's (a delta row costs a base row at read time).
MAX_DELTAS = 8
DELTA_SHARE = 0.10
# ... but never for fewer delta rows than this: a few small files cost a read next to nothing
# (a small seller would otherwise rewrite its base on every batch).
DELTA_MIN_ROWS = 2_000
# An object no manifest names and older than this is an orphan (a crash between the upload
# and the commit, a lost commit race, or a file merged away): the sweep deletes it. Longer
# than any reader holds a manifest before opening its files.
ORPHAN_AGE_MS = 3_600_000


def now_ms() -> int:
    return int(time.time() * 1000)


def shard_index(pk: str) -> int:
    return int(pk.rsplit("#", 1)[1])


def row(item: CustomerItem) -> tuple:
    return columnar.row_of_record(item)


# ----- files -------------------------------------------------------------------------------

def _write(con: Any, table: str, seller_id: str, kind: str) -> dict[str, Any]:
    """Upload the table as one Parquet object: {"key", "rows", "latest_ms"}."""
    rows = con.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
    latest = engine.latest_ms(con, table)
    key = store.new_key(seller_id, kind)
    fd, path = tempfile.mkstemp(suffix=".parquet")
    os.close(fd)
    try:
        engine.write_parquet(con, path, table)
        store.put_file(key, path)
    finally:
        os.remove(path)
    return {"key": key, "rows": int(rows), "latest_ms": latest}


def _latest_per_customer(con: Any, source: str, into: str) -> None:
    """``into``: one row per customer of ``source``, the one of the highest version."""
    cols = ", ".join(columnar.COLUMNS)
    con.execute(f"CREATE OR REPLACE TABLE {into} AS SELECT {cols} FROM {source} "
                "QUALIFY row_number() OVER (PARTITION BY customer_id "
                "ORDER BY version DESC NULLS LAST) = 1")


# ----- the stream --------------------------------------------------------------------------

def group(records: list[dict[str, Any]]) -> tuple[dict[str, dict[str, CustomerItem]],
                                                  dict[str, dict[int, int]], set[str]]:
    """Per seller: the highest version of each customer in the records, the largest
    changed_at per customer shard, and the sellers with a removed item (customers are
    never deleted; one that is gets its seller rebuilt)."""
    items: dict[str, dict[str, CustomerItem]] = {}
    marks: dict[str, dict[int, int]] = {}
    removed: set[str] = set()
    for record in records:
        data = record.get("dynamodb") or {}
        image = data.get("NewImage")
        if record.get("eventName") == "REMOVE" or not image:
            pk = (data.get("Keys") or {}).get("pk", {}).get("S", "")
            if "#" in pk:
                removed.add(pk.rsplit("#", 1)[0])
            continue
        item = store.item_of_image(image)
        seller = item.seller_id
        shard = shard_index(item.pk)
        per = marks.setdefault(seller, {})
        per[shard] = max(per.get(shard, 0), int(item.changed_at or 0))
        if store.is_tick(item):
            continue   # a watermark only: every change of its pk before it is applied
        mine = items.setdefault(seller, {})
        known = mine.get(item.customer_id)
        if known is None or int(item.version or 0) > int(known.version or 0):
            mine[item.customer_id] = item
    return items, marks, removed


def handle_stream(event: Any) -> dict[str, int]:
    """One batch of the customers stream (a Lambda event dict): per seller one delta and one
    manifest commit. Every seller is tried; if any failed the batch raises and comes back
    whole (the sellers that committed change nothing the second time)."""
    raw = event.to_dict() if hasattr(event, "to_dict") else event
    records = raw.get("Records", [])
    items, marks, removed = group(records)
    failed: list[str] = []
    applied = 0
    for seller in sorted(set(items) | set(marks) | removed):
        try:
            if seller in removed:
                rebuild(seller)
            applied += apply(seller, list(items.get(seller, {}).values()), marks.get(seller, {}))
        except Exception:
            logger.exception("snapshot update failed; the batch comes back",
                             extra={"fields": {"seller_id": seller}})
            failed.append(seller)
    if failed:
        raise RuntimeError(f"snapshot updates failed for {len(failed)} sellers")
    return {"records": len(records), "applied": applied}


def apply(seller_id: str, items: list[CustomerItem], marks: dict[int, int]) -> int:
    """Append the rows of ``items`` newer than the snapshot holds as one delta and raise the
    marks to ``marks``, in one conditional manifest commit (retried on conflict). A seller
    without a snapshot is built from the table first. Returns the rows appended."""
    con = engine.connect(threads=1)
    try:
        def attempt(_: int) -> int:
            manifest = store.manifest(seller_id)
            if manifest is None:
                rebuild(seller_id)
                manifest = store.manifest(seller_id)
                assert manifest is not None
            files = store.fetch_all(manifest.keys())
            held = engine.versions_held(files, (i.customer_id for i in items))
            fresh = [i for i in items if int(i.version or 0) > held.get(i.customer_id, 0)]
            old_marks = manifest.mark_map()
            new_marks = {**old_marks, **{k: max(old_marks.get(k, 0), w) for k, w in marks.items()}}
            if not fresh and new_marks == old_marks:
                return 0
            if fresh:
                engine.create_table(con, "delta")
                engine.insert_rows(con, [row(i) for i in fresh], "delta")
                delta = _write(con, "delta", seller_id, "delta")
                manifest.deltas = [*(manifest.deltas or []), delta]
                manifest.latest_ms = store.combine_latest(manifest.latest_ms, delta["latest_ms"])
            manifest.marks = {str(k): v for k, v in sorted(new_marks.items())}
            if fresh:   # a tick once the writes in flight have landed (docs: "Ticks")
                last = max(int(i.changed_at or 0) for i in fresh)
                manifest.tick_at = max(int(manifest.tick_at or 0), last + store.MARGIN_MS + 1000)
            store.save_manifest(manifest)   # VersionConflict: another commit won, go again
            return len(fresh)

        appended = retry_on_conflict(attempt, what=f"the snapshot of {seller_id}")
    finally:
        con.close()
    if appended:
        log(logger, "snapshot delta", seller_id=seller_id, rows=appended)
    compact_if_due(seller_id)
    return appended


# ----- ticks ------------------------------------------------------------------------------

def tick_due(now: int | None = None) -> int:
    """Every minute (app.py; the local stack's stream poller): a tick into each pk of every
    seller whose latest applied change is over MARGIN_MS old and not ticked since. Its
    records raise the marks past that change, so reads stop re-reading the customers
    changed in the margin before it (docs/segments.md, "Ticks"). A duplicate or lost tick
    changes nothing but when the marks move; returns the sellers ticked."""
    at = now if now is not None else now_ms()
    ticked = 0
    for manifest in store.due_ticks(at):
        store.tick(manifest.seller_id, at)
        manifest.tick_at = None
        try:
            store.save_manifest(manifest)
        except VersionConflict:
            pass   # the consumer committed meanwhile: the next run ticks again if still due
        ticked += 1
    return ticked


# ----- compaction --------------------------------------------------------------------------

def due(manifest: store.ManifestItem) -> bool:
    deltas = manifest.deltas or []
    base_rows = (manifest.base or {}).get("rows", 0)
    return len(deltas) > MAX_DELTAS or (bool(deltas) and manifest.delta_rows >= DELTA_MIN_ROWS
                                        and manifest.delta_rows > DELTA_SHARE * base_rows)


def compact_if_due(seller_id: str) -> bool:
    manifest = store.manifest(seller_id)
    if manifest is None or not due(manifest):
        return False
    return compact(seller_id)


def compact(seller_id: str) -> bool:
    """Merge the base and the deltas the manifest names now (the highest version per
    customer) into a new base, and commit it removing exactly those deltas: deltas appended
    meanwhile stay. False when a rebuild or another compaction replaced the base first."""
    manifest = store.manifest(seller_id)
    if manifest is None or not manifest.deltas:
        return False
    base, merged = manifest.base, list(manifest.deltas)
    con = engine.connect()
    try:
        files = store.fetch_all(manifest.keys())
        _latest_per_customer(con, engine.files_source(files), "merged")
        new_base = _write(con, "merged", seller_id, "base")
    finally:
        con.close()
    merged_keys = [d["key"] for d in merged]

    def attempt(_: int) -> bool:
        now = store.manifest(seller_id)
        if now is None or now.base != base or [d["key"] for d in (now.deltas or [])][
                :len(merged_keys)] != merged_keys:
            return False
        now.base = new_base
        now.deltas = list(now.deltas or [])[len(merged_keys):]
        now.latest_ms = store.combine_latest(new_base["latest_ms"],
                                             *(d.get("latest_ms") for d in now.deltas))
        now.built_at = now_ms()
        store.save_manifest(now)
        return True

    done = retry_on_conflict(attempt, what=f"the snapshot of {seller_id}")
    log(logger, "snapshot compacted" if done else "snapshot compaction lost to a rebuild",
        seller_id=seller_id, rows=new_base["rows"], deltas=len(merged_keys))
    sweep(seller_id)
    return done


# ----- rebuild -----------------------------------------------------------------------------

def rebuild(seller_id: str) -> dict[str, Any]:
    """A new base from the table: every customer of the seller read strongly consistent,
    merged (highest version per customer it read) with whatever the manifest holds at commit
    time, every delta removed; marks = the time the scan started, for every shard.

    Why those marks are safe while writes go on: the scan starts at T0 and reads each
    customer at a version at least the one it had at T0. A version newer than the one the
    snapshot keeps was written after the scan read that customer, so after T0: its
    changed_at is > T0 - MARGIN_MS (the margin covers skew and the write's flight time),
    and the read path overlays every customer changed since mark - MARGIN_MS. A mark
    higher than T0 (the largest changed_at the scan saw) would not be: a write computed
    before that, still in flight, could land after the scan passed. The old marks are not
    kept either: a rebuild is what runs when the stream's marks cannot be trusted."""
    started = now_ms()
    shards = settings().customer_shards
    with ThreadPoolExecutor(max_workers=shards) as pool:
        items = [i for chunk in pool.map(lambda k: store.scan_shard(seller_id, k), range(shards))
                 for i in chunk]
    con = engine.connect()
    try:
        engine.create_table(con, "scanned")
        for start in range(0, len(items), engine.CHUNK):
            engine.insert_rows(con, [row(i) for i in items[start:start + engine.CHUNK]], "scanned")

        def attempt(_: int) -> dict[str, Any]:
            manifest = store.manifest(seller_id) or store.new_manifest(seller_id)
            files = store.fetch_all(manifest.keys())
            # A delta committed during the scan may hold a newer version of a customer the
            # scan read early: keep it. Customers the scan did not see stay out (one removed;
            # one created after the scan passed its pk: the overlay has it, see above).
            source = ("scanned" if not files else
                      f"(SELECT * FROM scanned UNION ALL BY NAME SELECT * FROM {engine.files_source(files)} "
                      "WHERE customer_id IN (SELECT customer_id FROM scanned))")
            _latest_per_customer(con, source, "rebuilt")
            base = _write(con, "rebuilt", seller_id, "base")
            manifest.base, manifest.deltas = base, []
            manifest.latest_ms = base["latest_ms"]
            manifest.marks = {str(k): started for k in range(shards)}
            manifest.tick_at = started + store.MARGIN_MS + 1000   # then the scan's margin empties
            manifest.built_at = started
            store.save_manifest(manifest)
            return base

        base = retry_on_conflict(attempt, what=f"the snapshot of {seller_id}")
    finally:
        con.close()
    log(logger, "snapshot rebuilt", seller_id=seller_id, rows=base["rows"])
    sweep(seller_id)
    return {"seller_id": seller_id, "rows": base["rows"], "marks_ms": started}


def rebuild_all() -> list[dict[str, Any]]:
    """Every seller with a snapshot, rebuilt (the stream's marks cannot be trusted: its
    iterator expired, or records were trimmed before they were applied)."""
    return [rebuild(s) for s in store.sellers()]


def handle_failure_message(body: str, now: Any = None) -> None:
    """A Lambda on-failure record of the stream's mapping (its ``DDBStreamBatchInfo`` names
    the shard and the sequence numbers of the batch given up on): rebuild the sellers whose
    customers those records changed, or every seller when they can no longer be read."""
    import json

    info = (json.loads(body) or {}).get("DDBStreamBatchInfo") or {}
    try:
        sellers = store.stream_sellers(info["streamArn"], info["shardId"],
                                       info["startSequenceNumber"], info["endSequenceNumber"])
    except Exception:
        logger.warning("the failed batch's records cannot be read; rebuilding every snapshot",
                       exc_info=True)
        rebuild_all()
        return
    for seller in sorted(sellers):
        rebuild(seller)


# ----- orphans -----------------------------------------------------------------------------

def sweep(seller_id: str, older_than_ms: int = ORPHAN_AGE_MS) -> int:
    """Delete the seller's objects the manifest does not name and older than
    ``older_than_ms``: uploads whose commit crashed or lost, and files merged away."""
    manifest = store.manifest(seller_id)
    keep = set(manifest.keys()) if manifest else set()
    cutoff = now_ms() - older_than_ms
    gone = [o["key"] for o in store.objects(seller_id)
            if o["key"] not in keep and o["modified_ms"] <= cutoff]
    if gone:
        store.delete_objects(gone)
    return len(gone)


def rows_now(seller_id: str) -> dict[str, tuple]:
    """The snapshot as the read path sees its files (the last file's row per customer),
    without the overlay: for tests and the operator's check."""
    snap = store.current(seller_id)
    if snap is None or not snap.files:
        return {}
    con = engine.connect(threads=1)
    try:
        cols = ", ".join(columnar.COLUMNS)
        parts = " UNION ALL ".join(f"SELECT {i} AS f, {cols} FROM {engine.source_of(p)}"
                                   for i, p in enumerate(snap.files))
        got = con.execute(f"SELECT {cols} FROM ({parts}) QUALIFY row_number() OVER "
                          "(PARTITION BY customer_id ORDER BY f DESC) = 1").fetchall()
    finally:
        con.close()
    return {r[0]: tuple(r) for r in got}


__all__ = ["VersionConflict", "apply", "compact", "handle_stream", "rebuild", "sweep"]
