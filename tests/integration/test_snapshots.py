"""The columnar snapshot kept current from the customers stream, against moto in-process
(docs/segments.md, "Snapshot and read-your-writes"): whatever the stream's lag, the snapshot
plus every customer changed since its watermarks equals the table; after the stream caught
up the snapshot alone does; duplicate delivery, a crash between the upload and the commit,
racing commits, compaction, a rebuild during writes and a trimmed stream all end there."""

from __future__ import annotations

import json
import random
import threading
import time

import pytest

from chalicelib import columnar as engine
from chalicelib import snapshots
from chalicelib.store import customers as repo
from chalicelib.store import snapshots as store
from chalicelib.store.versioning import retry_on_conflict


def write(seller: str, cid: str, **fields) -> repo.CustomerItem:
    def attempt(_: int) -> repo.CustomerItem:
        item = repo.get(seller, cid) or repo.new_item(seller, cid, 1)
        for name, value in fields.items():
            setattr(item, name, value)
        repo.save(item)
        return item

    return retry_on_conflict(attempt, what=cid)


def as_rows(items) -> dict[str, tuple]:
    """Rows as the snapshot's files hold them (through DuckDB, so they compare equal)."""
    con = engine.connect(threads=1)
    try:
        engine.create_table(con)
        engine.insert_rows(con, [snapshots.row(i) for i in items])
        return {r[0]: tuple(r) for r in con.execute("SELECT * FROM snapshot").fetchall()}
    finally:
        con.close()


def table(seller: str) -> dict[str, tuple]:
    return as_rows([i for k in range(8) for i in store.scan_shard(seller, k)])


def view(seller: str) -> dict[str, tuple]:
    """What the read path sees: the snapshot's rows, every customer changed since its marks
    laid over them."""
    snap = store.current(seller)
    rows = snapshots.rows_now(seller)
    rows.update(as_rows(store.changed_since(seller, snap.marks if snap else {})))
    return rows


def seed(seller: str, n: int, start: int = 0) -> None:
    rng = random.Random(n + start)
    for i in range(start, start + n):
        write(seller, f"c{i:04d}", age=rng.randint(18, 70), region=rng.choice(["Bangkok", "Chiang Mai"]),
              tags={f"t{rng.randint(1, 3)}"})


def test_every_write_stamps_changed_at_and_changed_since_finds_it_within_the_margin(aws, seller):
    before = int(time.time() * 1000)
    created = write(seller, "c1", age=30)
    assert created.version == 1 and created.changed_at >= before
    updated = write(seller, "c1", age=31)
    assert updated.changed_at >= created.changed_at and updated.version == 2
    shard = repo.shard_of("c1")
    at = updated.changed_at
    found = store.changed_since(seller, {shard: at + store.MARGIN_MS})
    assert [(i.customer_id, i.age, i.version, i.changed_at) for i in found] == [("c1", 31, 2, at)]
    assert {"region", "tags", "agg", "gender", "language"} <= set(type(found[0]).get_attributes())
    assert store.changed_since(seller, {shard: at + store.MARGIN_MS + 1}) == []
    assert store.current(seller) is None


def test_the_stream_keeps_the_snapshot_equal_to_the_table_one_delta_per_seller_and_batch(
        aws, seller, stream):
    seed(seller, 30)
    for _ in range(3):
        write(seller, "c0001", age=99)           # three versions in one batch: one row
    stream()
    assert view(seller) == table(seller)
    assert snapshots.rows_now(seller) == table(seller)   # caught up: no overlay needed
    manifest = store.manifest(seller)
    # the first record found no snapshot: a rebuild; every later record of the batch was
    # already in it (the version rule), so no delta
    assert manifest.rows == 30 and manifest.base["rows"] == 30
    items = [i for k in range(8) for i in store.scan_shard(seller, k)]
    assert manifest.mark_map() == {k: max([i.changed_at for i in items if repo.shard_of(i.customer_id) == k]
                                          + [manifest.built_at]) for k in range(8)}
    write(seller, "c0001", age=40)
    write(seller, "c0001", age=41)
    write(seller, "c0002", age=42)
    stream()
    manifest = store.manifest(seller)
    assert [d["rows"] for d in manifest.deltas] == [2]
    assert snapshots.rows_now(seller) == table(seller)
    assert snapshots.rows_now(seller)["c0001"][1] == 41


def test_a_read_right_after_a_write_sees_it_whatever_the_lag(aws, seller, stream):
    seed(seller, 10)
    stream()
    write(seller, "c0003", age=77, region="Phuket")
    write(seller, "c9999", age=20)
    assert snapshots.rows_now(seller)["c0003"][1] != 77        # the stream has not run
    assert view(seller) == table(seller)
    stream()
    assert snapshots.rows_now(seller) == table(seller)


def test_a_duplicate_delivery_changes_nothing(aws, app, seller, monkeypatch):
    from chalicelib.local.pollers import StreamPoller, dynamodb_handlers

    monkeypatch.setattr(snapshots, "DELTA_SHARE", 1.0)    # keep the deltas to count them
    name, handler, size = dynamodb_handlers(app)[0]
    calls = []

    def twice(event, context):
        calls.append(len(event["Records"]))
        handler(event, context)
        handler(event, context)      # Lambda may deliver a batch again

    poller = StreamPoller(name, twice, size, stop=None, start="LATEST")
    poller.poll_once()
    seed(seller, 12)
    poller.poll_once()
    write(seller, "c0001", age=50)
    write(seller, "c0002", age=51)
    while poller.poll_once():
        pass
    assert calls and snapshots.rows_now(seller) == table(seller)
    assert [d["rows"] for d in store.manifest(seller).deltas] == [2]


def test_a_crash_between_the_upload_and_the_commit_leaves_an_orphan_and_the_retry_converges(
        aws, seller, stream, monkeypatch):
    seed(seller, 8)
    stream()
    write(seller, "c0004", age=64)
    real = store.save_manifest
    crashes = []

    def crash_once(item):
        if not crashes:
            crashes.append(item.deltas[-1]["key"])
            raise RuntimeError("the function died after the upload")
        real(item)

    monkeypatch.setattr(store, "save_manifest", crash_once)
    stream()                                  # the batch fails: it comes back
    assert snapshots.rows_now(seller)["c0004"][1] != 64
    assert view(seller) == table(seller)      # reads stay exact meanwhile
    stream()
    assert crashes and snapshots.rows_now(seller) == table(seller)
    orphan = crashes[0]
    keys = {o["key"] for o in store.objects(seller)}
    assert orphan in keys and orphan not in store.manifest(seller).keys()
    assert snapshots.sweep(seller) == 0                   # too young to be an orphan yet
    named = set(store.manifest(seller).keys())
    # the orphan, and what compaction merged away (the old base and deltas) go
    assert snapshots.sweep(seller, older_than_ms=-60_000) == len(keys - named)
    assert {o["key"] for o in store.objects(seller)} == named
    assert snapshots.rows_now(seller) == table(seller)


def test_two_batches_racing_on_one_manifest_both_land(aws, seller, atomic_moto, monkeypatch):
    monkeypatch.setattr(snapshots, "DELTA_SHARE", 1.0)    # keep the deltas to count them
    seed(seller, 6)
    snapshots.rebuild(seller)
    a = write(seller, "c0001", age=11)
    b = write(seller, "c0005", age=55)
    real = store.save_manifest
    barrier = threading.Barrier(2, timeout=2)
    commits = []

    def both_read_first(item):
        commits.append(item.version)
        try:
            barrier.wait()     # both attempts read the same manifest version first
        except threading.BrokenBarrierError:
            pass               # the retry of the loser: alone now
        real(item)

    monkeypatch.setattr(store, "save_manifest", both_read_first)
    errors = []

    def run(item):
        try:
            snapshots.apply(seller, [item], {repo.shard_of(item.customer_id): item.changed_at})
        except Exception as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(commits) == 3 and commits[0] == commits[1]   # one lost the race and went again
    manifest = store.manifest(seller)
    assert len(manifest.deltas) == 2 and sorted(d["rows"] for d in manifest.deltas) == [1, 1]
    assert manifest.mark_map()[repo.shard_of("c0001")] >= a.changed_at
    assert manifest.mark_map()[repo.shard_of("c0005")] >= b.changed_at
    assert snapshots.rows_now(seller) == table(seller)


def test_compaction_merges_base_and_deltas_and_keeps_the_deltas_appended_meanwhile(
        aws, seller, stream, monkeypatch):
    monkeypatch.setattr(snapshots, "DELTA_SHARE", 1.0)    # due by the count of deltas only
    seed(seller, 20)
    stream()
    for n in range(snapshots.MAX_DELTAS):
        write(seller, f"c{n:04d}", age=80 + n)
        stream()
    manifest = store.manifest(seller)
    assert len(manifest.deltas) == snapshots.MAX_DELTAS   # not yet due
    real_write = snapshots._write

    def meanwhile(con, tbl, seller_id, kind):
        out = real_write(con, tbl, seller_id, kind)
        if kind == "base":       # a batch commits while the merge is being uploaded
            item = write(seller, "c0019", age=19)
            monkeypatch.setattr(snapshots, "compact_if_due", lambda s: False)
            snapshots.apply(seller, [item], {repo.shard_of("c0019"): item.changed_at})
        return out

    monkeypatch.setattr(snapshots, "_write", meanwhile)
    write(seller, "c0010", age=10)
    stream()                                               # the 9th delta: compaction
    manifest = store.manifest(seller)
    assert [d["rows"] for d in manifest.deltas] == [1]     # the one appended meanwhile
    assert manifest.base["rows"] == 20
    assert snapshots.rows_now(seller) == table(seller)


def test_a_rebuild_while_writes_go_on_stays_exact_before_and_after_the_stream_catches_up(
        aws, seller, stream, atomic_moto):
    seed(seller, 40)
    stream()
    stop, started = threading.Event(), threading.Event()

    def writer():
        rng = random.Random(7)
        while not stop.is_set():
            write(seller, f"c{rng.randint(0, 60):04d}", age=rng.randint(1, 99))
            started.set()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        assert started.wait(30)   # the rebuild below overlaps the writer's writes
        done = snapshots.rebuild(seller)
    finally:
        stop.set()
        thread.join()
    manifest = store.manifest(seller)
    assert manifest.deltas == [] and set(manifest.mark_map().values()) == {done["marks_ms"]}
    assert view(seller) == table(seller)
    stream()
    assert view(seller) == table(seller)
    assert snapshots.rows_now(seller) == table(seller)


def test_a_trimmed_stream_rebuilds_the_snapshots(aws, app, seller, monkeypatch):
    from moto.dynamodb.models import dynamodb_backends

    from chalicelib.local.pollers import StreamPoller, dynamodb_handlers

    name, handler, size = dynamodb_handlers(app)[0]
    rebuilt = []
    poller = StreamPoller(name, handler, size, stop=None, start="LATEST",
                          on_trimmed=lambda: rebuilt.append(snapshots.rebuild(seller)))
    poller.poll_once()
    seed(seller, 5)
    poller.poll_once()
    write(seller, "c0001", age=3)
    write(seller, "c0007", age=4)
    backend = next(b for regions in dynamodb_backends.values() for b in regions.values()
                   if name in b.tables)
    shard = backend.get_table(name).stream_shard
    monkeypatch.setattr("chalicelib.local.moto_fixes.MAX_STREAM_RECORDS", 1)
    write(seller, "c0008", age=5)      # moto now keeps one record: the two above are gone
    assert len(shard.items) == 1
    poller.poll_once()
    assert rebuilt
    while poller.poll_once():
        pass
    assert snapshots.rows_now(seller) == table(seller)


def test_current_downloads_each_object_once(aws, seller, monkeypatch):
    seed(seller, 3)
    snapshots.rebuild(seller)
    first = store.current(seller)
    key = store.manifest(seller).base["key"]
    store.client("s3").delete_object(Bucket=store.bucket(), Key=key)   # only the cache has it now
    again = store.current(seller)
    assert again.files == first.files and again.marks == first.marks
    assert again.latest_ms == first.latest_ms


def test_a_failure_record_rebuilds_the_sellers_of_its_batch(aws, app, seller):
    from chalicelib.store.aws import client

    seed(seller, 2)
    arn = client("dynamodb").describe_table(TableName=repo.CustomerItem.Meta.table_name)[
        "Table"]["LatestStreamArn"]
    streams = client("dynamodbstreams")
    shard = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"][0]["ShardId"]
    it = streams.get_shard_iterator(StreamArn=arn, ShardId=shard, ShardIteratorType="LATEST")
    write(seller, "c0000", age=1)
    write(seller, "c0001", age=2)
    records = streams.get_records(ShardIterator=it["ShardIterator"])["Records"]
    seqs = [r["dynamodb"]["SequenceNumber"] for r in records]
    body = {"requestContext": {"condition": "RetryAttemptsExhausted"},
            "DDBStreamBatchInfo": {"shardId": shard, "streamArn": arn, "batchSize": 2,
                                   "startSequenceNumber": seqs[0], "endSequenceNumber": seqs[-1]}}
    assert store.manifest(seller) is None
    snapshots.handle_failure_message(json.dumps(body))
    assert snapshots.rows_now(seller) == table(seller)


def test_ops_snapshot_rebuild_builds_a_sellers_base(aws, seller, capsys):
    from chalicelib import ops

    seed(seller, 4)
    assert ops.main(["snapshot-rebuild", seller]) == 0
    out = json.loads(capsys.readouterr().out)
    assert (out["seller_id"], out["rows"]) == (seller, 4)
    assert snapshots.rows_now(seller) == table(seller)


@pytest.mark.parametrize("kind", ["REMOVE"])
def test_a_removed_customer_rebuilds_its_seller(aws, seller, kind):
    seed(seller, 3)
    snapshots.rebuild(seller)
    item = repo.get(seller, "c0001")
    item.delete()
    event = {"Records": [{"eventName": kind, "dynamodb": {"Keys": {
        "pk": {"S": item.pk}, "customer_id": {"S": "c0001"}}}}]}
    snapshots.handle_stream(event)
    assert snapshots.rows_now(seller) == table(seller) and "c0001" not in table(seller)


def test_a_write_that_lands_late_is_stamped_again_before_save_returns(aws, seller, monkeypatch):
    clock = iter([1_000_000, 1_000_000 + repo.STAMP_LATE_MS + 1, 1_050_000, 1_050_001])
    monkeypatch.setattr(repo, "now_ms", lambda: next(clock))
    item = repo.new_item(seller, "c1", 1)
    repo.save(item)
    stored = repo.get(seller, "c1")
    assert (stored.changed_at, stored.version) == (1_050_000, 2)


def test_a_tick_after_the_margin_moves_the_marks_past_a_burst_and_is_no_customer(
        aws, seller, stream):
    seed(seller, 20)
    stream()
    manifest = store.manifest(seller)
    assert manifest.tick_at is not None          # a tick is due once the margin has passed
    snap = store.current(seller)
    assert len(store.changed_versions(seller, snap.marks)) == 20   # the burst: in the margin
    snapshots.tick_due(manifest.tick_at - 1)                        # (other sellers may be due)
    assert store.manifest(seller).tick_at == manifest.tick_at       # not due yet
    later = manifest.tick_at + 10
    snapshots.tick_due(later)
    assert store.manifest(seller).tick_at is None                   # ticked, once
    stream()
    snap = store.current(seller)
    assert snap.marks == {k: later for k in range(8)}
    assert store.changed_versions(seller, snap.marks) == {}         # nothing left to re-read
    assert store.manifest(seller).tick_at is None                   # a tick does not tick again
    # the ticks are no customers: no list, scan, count or snapshot row shows them
    assert len(table(seller)) == 20 and len(snapshots.rows_now(seller)) == 20
    assert sum(1 for _ in repo.scan_seller(seller)) == 20
    items, _ = repo.page(seller, 100)
    assert len(items) == 20
    write(seller, "c0003", age=77)                                  # a change after the tick
    assert view(seller) == table(seller)
