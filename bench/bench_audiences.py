"""Audience reads on the local stack (docs/segments.md, "Snapshot and read-your-writes"): a
20,000-customer seller's preview over HTTP, served from the columnar snapshot the stack's
stream consumer keeps, beside the old item scan (every customer item read from the table,
strongly consistent, and decided by the item predicate) in the same run, as a ratio.

The stack is the real one (`python -m chalicelib.local`: gateway, moto server, pollers,
stream poller). Customers are written straight into its moto server with batch writes (as
bench_segments does), so the stream consumer builds the snapshot from the stream.

`python -m bench audiences`; CRM_BENCH_AUDIENCE_CUSTOMERS changes the size. No assertions.
"""

from __future__ import annotations

import os
import statistics
import time
from datetime import UTC, datetime

CUSTOMERS = int(os.environ.get("CRM_BENCH_AUDIENCE_CUSTOMERS", "20000"))


def main() -> None:
    import requests

    from bench.bench_segments import RULE, _patient_pynamodb
    from chalicelib.local.spawn import spawn

    _patient_pynamodb()
    stack = spawn()
    try:
        from chalicelib.local.moto_env import point_at_moto

        point_at_moto(stack.moto_url)
        _run(stack.base, RULE, requests)
    finally:
        stack.stop(timeout=30)


def _run(base: str, rule_all: dict, requests) -> None:
    from bench.bench_segments import _fill
    from chalicelib.api.auth import mint_token
    from chalicelib.audiences import Catalogue, validate_rule
    from chalicelib.audiences.population import Population
    from chalicelib.domain import aggregates
    from chalicelib.domain.profile import from_record
    from chalicelib.store import segments as segment_store
    from chalicelib.store import snapshots

    seller = f"bench-aud-{int(time.time())}"
    rule = {"all": [c for c in rule_all["all"] if "tags" not in c]}   # this seller has no tags
    now = datetime.now(UTC)
    wrote = _fill(seller, CUSTOMERS, aggregates.to_ms(now))   # bench_segments' batch writes
    last_write = time.time()
    print(f"wrote {CUSTOMERS:,} customers into the stack's moto server in {wrote:.1f} s")

    t0 = time.perf_counter()
    while True:   # the stack's stream poller and consumer build the snapshot from the stream
        item = snapshots.manifest(seller)
        if item is not None and item.rows >= CUSTOMERS:
            break
        if time.perf_counter() - t0 > 1800:
            print("the snapshot did not catch up within 30 minutes")
            return
        time.sleep(1)
    print(f"the stream consumer caught up {time.perf_counter() - t0:.1f} s after the writes: "
          f"{item.rows:,} rows, {len(item.deltas or [])} deltas")

    headers = {"Authorization": f"Bearer {mint_token(seller, 'owner')}"}

    def http_preview() -> tuple[float, dict]:
        t = time.perf_counter()
        r = requests.post(f"{base}/v1/segments/preview", json={"rule": rule}, headers=headers,
                          timeout=900)
        return time.perf_counter() - t, r.json()

    http_preview()   # the gateway's first read of the files (download + DuckDB import)
    # Right after the writes every customer is still inside the read margin: read fresh.
    fresh = [http_preview()[0] for _ in range(2)] \
        if time.time() - last_write < snapshots.MARGIN_MS / 1000 else []
    t0 = time.perf_counter()
    while True:   # the tick a minute after the writes moves the marks past them
        item = snapshots.manifest(seller)
        if item.tick_at is None and min(item.mark_map().values()) > last_write * 1000:
            break
        if time.perf_counter() - t0 > 600:
            print("no tick within 10 minutes")
            return
        time.sleep(1)
    print(f"the tick moved the marks past the writes {time.time() - last_write:.0f} s after them")
    steady = [http_preview() for _ in range(7)]
    size = steady[0][1]["size"]
    new = statistics.median(t for t, _ in steady)

    cat = Catalogue(seller)
    normalised, _ = validate_rule(seller, rule, catalogue=cat)
    t = time.perf_counter()
    people = Population(cat, aggregates.to_ms(now), None,
                        [from_record(i) for i in segment_store.customers(seller)])
    old_size, _ = people.preview(normalised, 20)
    old = time.perf_counter() - t
    if fresh:
        print(f"HTTP preview while every customer is within the {snapshots.MARGIN_MS // 1000} s "
              f"read margin (all read from the table): median {statistics.median(fresh) * 1000:,.0f} ms")
    print(f"HTTP preview of a {CUSTOMERS:,}-customer seller from the snapshot: median "
          f"{new * 1000:,.0f} ms over {len(steady)} (size {size:,}; target <= 1,000 ms)")
    print(f"the old item scan, same rule and seller, same run: {old * 1000:,.0f} ms "
          f"(size {old_size:,}) => snapshot {old / new:,.0f}x faster")
