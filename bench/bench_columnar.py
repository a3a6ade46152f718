"""The columnar back end (docs/segments.md, "Columnar back end"): build a synthetic snapshot
of 1,000,000 customers (profiles -> rows -> DuckDB -> one Parquet file), then evaluate the
5-condition rule of bench_segments and each built-in over the Parquet file in-process.

Figures: snapshot build rate; rows/s on one core (DuckDB threads=1; target >= 5,000,000);
wall time of a preview = size + a sample of 20 (all cores; target <= 1 s); peak RSS of the
query process (target < 1,769 MB, the Lambda's memory). No assertions.

`python -m bench columnar`; CRM_BENCH_COLUMNAR_CUSTOMERS shrinks the snapshot.
"""

from __future__ import annotations

import multiprocessing
import os
import random
import resource
import tempfile
import time
from datetime import UTC, datetime

from bench.bench_segments import RULE, TAGS, synthetic_agg

CUSTOMERS = int(os.environ.get("CRM_BENCH_COLUMNAR_CUSTOMERS", "1000000"))
CHUNK = 20_000


class _Resolver:
    def segment(self, segment_id: str) -> dict | None:
        from chalicelib.domain.builtins import BUILTIN_RULES

        return BUILTIN_RULES.get(segment_id)

    def tag_id(self, name: str) -> str | None:
        return TAGS.get(name)


def _synthetic_chunk(rng: random.Random, start: int, n: int, now_ms: int) -> list:
    from chalicelib.domain.aggregates import DAY_MS
    from chalicelib.domain.profile import Profile

    tag_ids = list(TAGS.values())
    out = []
    for i in range(start, start + n):
        agg = synthetic_agg(rng, now_ms)
        if rng.random() < 0.02:   # a heavy viewer: > 50 views, the older ones as daily counts
            times = sorted(now_ms - rng.randint(0, 120 * DAY_MS) for _ in range(80))
            agg["recent"]["product_viewed"] = times[-50:]
            agg["last"]["product_viewed"] = times[-1]
            daily: dict[str, int] = {}
            for t in times[:-50]:
                daily[str(t // DAY_MS)] = daily.get(str(t // DAY_MS), 0) + 1
            agg["daily"]["product_viewed"] = daily
        out.append(Profile(f"c{i:07d}", age=rng.choice([None, *range(16, 70)]),
                           gender=rng.choice(["female", "male", "unknown", None]),
                           region=rng.choice(["Bangkok", "Java", "Hanoi"]),
                           language=rng.choice(["th", "vi", "id", "en"]),
                           tags=frozenset(rng.sample(tag_ids, rng.randint(0, 2))), agg=agg))
    return out


def build(path: str, now_ms: int, out: dict) -> None:
    """In a child process (its memory is not the query's): synthetic profiles -> snapshot."""
    from chalicelib import columnar as engine
    from chalicelib.domain import columnar

    rng = random.Random(11)
    con = engine.connect()
    engine.create_table(con)
    making = rowing = inserting = 0.0
    for start in range(0, CUSTOMERS, CHUNK):
        t0 = time.perf_counter()
        profiles = _synthetic_chunk(rng, start, min(CHUNK, CUSTOMERS - start), now_ms)
        t1 = time.perf_counter()
        rows = [columnar.row_of(p) for p in profiles]
        t2 = time.perf_counter()
        engine.insert_rows(con, rows)
        t3 = time.perf_counter()
        making, rowing, inserting = making + t1 - t0, rowing + t2 - t1, inserting + t3 - t2
    t0 = time.perf_counter()
    engine.write_parquet(con, path)
    writing = time.perf_counter() - t0
    out.update(making=making, rowing=rowing, inserting=inserting, writing=writing,
               rss=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _rss() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _best(run, times: int = 3) -> float:
    best = float("inf")
    for _ in range(times):
        t0 = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    from chalicelib import columnar as engine
    from chalicelib.domain import builtins, columnar, rules

    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    path = os.path.join(tempfile.mkdtemp(prefix="crm-bench-columnar-"), "snapshot.parquet")
    shared = multiprocessing.Manager().dict()
    child = multiprocessing.get_context("fork").Process(target=build, args=(path, now_ms, shared))
    child.start()
    child.join()
    b = dict(shared)
    total = b["making"] + b["rowing"] + b["inserting"] + b["writing"]
    snapshot = b["rowing"] + b["inserting"] + b["writing"]
    print(f"snapshot of {CUSTOMERS:,} synthetic customers: {os.path.getsize(path) / 1e6:.1f} MB "
          f"Parquet (zstd); build {CUSTOMERS / snapshot:,.0f} customers/s (profiles -> rows "
          f"{b['rowing']:.1f} s, rows -> DuckDB {b['inserting']:.1f} s, -> Parquet "
          f"{b['writing']:.1f} s); making the synthetic profiles {b['making']:.1f} s more; "
          f"{total:.1f} s in all; build peak RSS {b['rss']:,.0f} MB")

    cases = {"5-condition rule": rules.parse(RULE).rule, **builtins.BUILTIN_RULES}
    t0 = time.perf_counter()
    cold = engine.connect()
    engine.preview(cold, engine.source_of(path), cases["5-condition rule"], now_ms, _Resolver(), 20)
    cold.close()
    print(f"a preview on a new connection (first read of the file): "
          f"{(time.perf_counter() - t0) * 1000:,.0f} ms")
    con = engine.connect()
    cores = os.cpu_count() or 1
    for label, source in (("over the Parquet file", engine.source_of(path)),
                          ("over the snapshot loaded in memory", "snap")):
        if source == "snap":
            print(f"  peak RSS so far (Parquet only): {_rss():,.0f} MB")
            t0 = time.perf_counter()
            con.execute(f"CREATE TABLE snap AS SELECT * FROM {engine.source_of(path)}")
            print(f"loading the Parquet file into a DuckDB table: "
                  f"{(time.perf_counter() - t0) * 1000:,.0f} ms")
        t0 = time.perf_counter()
        latest = engine.latest_ms(con, source)
        print(f"{label} (its latest kept time: one scan, "
              f"{(time.perf_counter() - t0) * 1000:,.0f} ms; in the rates below):")
        print(f"  {'rule':<18} {'members':>9} {'rows/s, 1 core':>15} {f'preview, {cores} cores':>19}")
        for name, rule in cases.items():
            where, params = columnar.compile_sql(rule, now_ms, _Resolver(), latest)
            sql = f"SELECT count(*) FROM {source} WHERE {where}"
            con.execute("SET threads = 1")
            size = con.execute(sql, params).fetchone()[0]
            rate = CUSTOMERS / _best(lambda s=sql, p=params: con.execute(s, p).fetchone())
            con.execute(f"SET threads = {cores}")
            wall = _best(lambda src=source, r=rule, last=latest: engine.preview(
                con, src, r, now_ms, _Resolver(), 20, last))
            print(f"  {name:<18} {size:>9,} {rate:>15,.0f} {wall * 1000:>16,.0f} ms")
    # The read path itself (audiences/population.py): the snapshot file as the only file, no
    # fresh customers (a seller quiet since the last tick), size + a sample of 20.
    from chalicelib.audiences.population import Population
    from chalicelib.store.snapshots import Snapshot

    snap = Snapshot(seller_id="bench", files=[path], marks={}, latest_ms=latest)
    print("the read path (Population over the Parquet file, no fresh customers), "
          f"{cores} cores:")
    for name, rule in cases.items():
        people = Population(_Resolver(), now_ms, snap, [])
        wall = _best(lambda r=rule, p=people: p.preview(r, 20))
        print(f"  {name:<18} preview {wall * 1000:>6,.0f} ms")
    print(f"query process peak RSS, table loaded: {_rss():,.0f} MB "
          f"(target < 1,769 MB); targets: >= 5,000,000 rows/s on one core, preview <= 1,000 ms")
    os.remove(path)
