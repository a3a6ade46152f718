"""Audience export (docs/segments.md, "Audience export"): a segment of N members with phones
written as the hashed-phone CSV by the exports queue's code path (``services.exports.write``)
on a moto server in this process: seconds, members/s, and AWS requests per member by
operation. The segment read before it is timed on its own.

`python -m bench exports`; CRM_BENCH_EXPORT_MEMBERS changes the size. No assertions.
"""

from __future__ import annotations

import os
import time
from datetime import UTC, datetime

MEMBERS = int(os.environ.get("CRM_BENCH_EXPORT_MEMBERS", "20000"))


def main() -> None:
    from bench.bench_segments import _patient_pynamodb
    from bench.localstack import RequestCounter, start

    _patient_pynamodb()
    counter = RequestCounter()
    counter.attach_everywhere()      # before any client exists, PynamoDB's included
    start()

    from concurrent.futures import ThreadPoolExecutor

    from chalicelib import audiences
    from chalicelib.domain import aggregates
    from chalicelib.services import exports
    from chalicelib.store import exports as store
    from chalicelib.store.customers import CustomerItem
    from chalicelib.store.customers import new_item as new_customer

    seller = f"bench-exp-{int(time.time())}"
    now = datetime.now(UTC)
    now_ms = aggregates.to_ms(now)
    ids = [f"c{i:07d}" for i in range(MEMBERS)]

    def write(part: list[str]) -> None:
        with CustomerItem.batch_write() as batch:
            for cid in part:
                item = new_customer(seller, cid, now_ms)
                item.phone = f"+6680{int(cid[1:]):07d}"
                item.changed_at, item.version = now_ms, 1
                batch.save(item)

    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, [ids[i::8] for i in range(8)]))
    print(f"wrote {MEMBERS:,} customers with phones in {time.perf_counter() - t0:.1f} s")

    t0 = time.perf_counter()
    members = audiences.segment_members(seller, ["potential_new"], now)   # nobody: the read cost
    print(f"a built-in segment's members over {MEMBERS:,} customers (no snapshot: the item "
          f"scan): {time.perf_counter() - t0:.1f} s, {len(members)} members")

    item = store.create(seller, "exp_bench", "all", "hashed_phone",
                        f"exports/{seller}/exp_bench.csv", now_ms, "bench")
    counter.counts.clear()
    t0 = time.perf_counter()
    result = exports.write(item, set(ids), now_ms)
    took = time.perf_counter() - t0
    counts, total = counter.counts.copy(), counter.total()
    rows = store.get(seller, "exp_bench").rows
    print(f"export of {MEMBERS:,} members: {result}, {rows:,} rows in {took:.1f} s "
          f"= {MEMBERS / took:,.0f} members/s")
    print(f"AWS requests: {total:,} = {total / MEMBERS:.4f} per member; "
          + ", ".join(f"{k} {v:,}" for k, v in counts.most_common()))
    print(f"object: {len(store.read_object(item.key)):,} bytes")


if __name__ == "__main__":
    main()
