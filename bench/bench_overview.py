"""The overview dashboard on a local moto server (docs/overview.md): a shop with 50,000
customers (the columnar snapshot built from the table, as the stream consumer keeps it) and
20 one-off plans sent over the last 30 days, each to 5,000 of them, with reads, clicks,
attributed orders and the shop's own paid and refunded orders, folded through the real
rollup writers (delivery/rollups.py).

Prints what the writers cost (AWS requests per message and per fact), then per window (7,
30 and 365 days) the latency of GET /v1/overview's service call (p50, p95, max) and the AWS
requests one call makes, by operation. Latency here is moto's, over HTTP on this loaded
machine: the request counts are the figure that carries over to AWS.

`python -m bench overview`; CRM_BENCH_OVERVIEW_CUSTOMERS, CRM_BENCH_OVERVIEW_PLANS,
CRM_BENCH_OVERVIEW_RECIPIENTS and CRM_BENCH_OVERVIEW_CALLS change the sizes. No assertions.
"""

from __future__ import annotations

import os
import random
import statistics
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

from bench.localstack import RequestCounter, start

CUSTOMERS = int(os.environ.get("CRM_BENCH_OVERVIEW_CUSTOMERS", "50000"))
PLANS = int(os.environ.get("CRM_BENCH_OVERVIEW_PLANS", "20"))
RECIPIENTS = int(os.environ.get("CRM_BENCH_OVERVIEW_RECIPIENTS", "5000"))
CALLS = int(os.environ.get("CRM_BENCH_OVERVIEW_CALLS", "15"))
SHOP_ORDERS = 2000
SELLER = f"bench-overview-{int(time.time())}"


def main() -> None:
    from bench.bench_segments import _patient_pynamodb

    _patient_pynamodb()
    from chalicelib.local.moto_fixes import (
        atomic_item_writes,
        light_transactions,
        partition_index_queries,
    )

    # As the local stack runs moto: item writes (transactions too) under one lock, without
    # a copy of the table per transaction action, and an LSI Query reading its own item
    # collection, not the whole table.
    atomic_item_writes()
    light_transactions()
    partition_index_queries()
    counter = RequestCounter()
    counter.attach_everywhere()
    start()
    from bench.bench_segments import _fill
    from chalicelib.domain import aggregates
    from chalicelib.snapshots import rebuild
    from chalicelib.store import snapshots

    now = datetime.now(UTC)
    now_ms = aggregates.to_ms(now)
    took = _fill(SELLER, CUSTOMERS, now_ms)
    filled_at = time.time()
    print(f"wrote {CUSTOMERS:,} customers in {took:.1f} s")
    _plans(now_ms)
    _fold(counter, now_ms)
    # The snapshot's read path re-reads customers changed within its margin of the marks:
    # let the fill fall outside it, as in a shop whose customers were not all just written.
    time.sleep(max(0.0, snapshots.MARGIN_MS / 1000 + 1 - (time.time() - filled_at)))
    t = time.perf_counter()
    rows = rebuild(SELLER)["rows"]
    print(f"snapshot rebuilt: {rows:,} rows in {time.perf_counter() - t:.1f} s")
    for days in (7, 30, 365):
        _measure(counter, days)


def _plans(now_ms: int) -> None:
    from chalicelib.store import plans

    for i in range(PLANS):
        plans.PlanItem(seller_id=SELLER, plan_id=_plan_id(i), name=f"Bench plan {i}",
                       kind="one_off", status="sent", channels=["chat"],
                       audience={"segment_ids": ["new_followers"]},
                       created_at=now_ms, finished_at=now_ms).save()


def _plan_id(i: int) -> str:
    return f"pl_bench_{i:03d}"


def _fold(counter: RequestCounter, now_ms: int) -> None:
    """The rollups of PLANS sends (plan i sent 1.5 i days ago), each to RECIPIENTS customers:
    30% read, 10% clicked, 2% ordered; plus SHOP_ORDERS shop orders, 5% refunded."""
    from chalicelib.delivery import rollups
    from chalicelib.delivery.chunks import Fact
    from chalicelib.domain.aggregates import DAY_MS

    rng = random.Random(11)
    everyone = [f"c{i:06d}" for i in range(CUSTOMERS)]
    counter.counts.clear()
    t = time.perf_counter()
    messages = 0
    chunks = []
    all_facts = []
    for i in range(PLANS):
        sent = now_ms - int(1.5 * i * DAY_MS) - 3_600_000
        chosen = rng.sample(everyone, min(RECIPIENTS, CUSTOMERS))
        for start in range(0, len(chosen), 250):      # one settle per chunk of 250
            chunk = [(c, c, sent, "delivered") for c in chosen[start:start + 250]]
            chunks.append((_plan_id(i), chunk))
            messages += len(chunk)
        facts = []
        for n, cid in enumerate(chosen):
            at = sent + rng.randrange(1, 3 * 3_600_000)
            roll = rng.random()
            if roll < 0.30:
                facts.append(Fact(plan_id=_plan_id(i), part="c#000000", key=f"read:{cid}",
                                  add={"read": 1}, customer_id=cid, at=at, sent_at=sent))
            if roll < 0.10:
                facts.append(Fact(plan_id=_plan_id(i), part="c#000000", key=f"clicked:{cid}",
                                  add={"clicked": 1}, customer_id=cid, at=at, sent_at=sent))
            if roll < 0.02:
                facts.append(Fact(plan_id=_plan_id(i), part="c#000000",
                                  key=f"order:o-{i}-{n}", add={"orders": 1, "gmv": "129.90"},
                                  customer_id=cid, at=at + 60_000, sent_at=sent))
        all_facts.extend(facts[k:k + 200] for k in range(0, len(facts), 200))

    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda c: rollups.fold_messages(SELLER, c[0], c[1], now_ms), chunks))
    message_requests = counter.total()
    print(f"folded {messages:,} messages in {time.perf_counter() - t:.1f} s: "
          f"{message_requests / messages:.3f} AWS requests per message "
          f"({dict(counter.counts)})")
    counter.counts.clear()
    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda f: rollups.fold_facts(SELLER, f, now_ms), all_facts))
    n_facts = sum(len(f) for f in all_facts)
    print(f"folded {n_facts:,} engagement facts in {time.perf_counter() - t:.1f} s: "
          f"{counter.total() / max(n_facts, 1):.3f} AWS requests per fact "
          f"(batches of up to 200, as the metrics queue carries them)")
    counter.counts.clear()
    t = time.perf_counter()
    events = []
    for k in range(SHOP_ORDERS):
        at = datetime.fromtimestamp((now_ms - rng.randrange(0, 60 * DAY_MS)) / 1000, UTC)
        events.append({"type": "order_paid", "order_id": f"shop-{k}", "customer_id": "x",
                       "amount": "59.00", "occurred_at": at.isoformat()})
        if k % 20 == 0:
            events.append({"type": "order_refunded", "order_id": f"shop-{k}", "customer_id": "x",
                           "occurred_at": datetime.now(UTC).isoformat()})
    batches = [events[k:k + 50] for k in range(0, len(events), 50)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda b: rollups.on_events(SELLER, b, datetime.now(UTC)), batches))
    print(f"folded {len(events):,} shop order events in {time.perf_counter() - t:.1f} s: "
          f"{counter.total() / len(events):.3f} AWS requests per event")


def _measure(counter: RequestCounter, days: int) -> None:
    from chalicelib.services import overview

    overview.overview(SELLER, days, datetime.now(UTC))     # the first read of the files
    times = []
    per_call: Counter[str] = Counter()
    for _ in range(CALLS):
        counter.counts.clear()
        t = time.perf_counter()
        body = overview.overview(SELLER, days, datetime.now(UTC))
        times.append(time.perf_counter() - t)
        per_call = Counter(counter.counts)
    times.sort()
    p95 = times[min(len(times) - 1, int(round(0.95 * (len(times) - 1))))]
    print(f"days={days}: {CALLS} calls, p50 {statistics.median(times) * 1000:.0f} ms, "
          f"p95 {p95 * 1000:.0f} ms, max {times[-1] * 1000:.0f} ms; "
          f"{sum(per_call.values())} AWS requests per call {dict(sorted(per_call.items()))}")
    print(f"  funnel {body['funnel']}, plans {body['plans']}, gmv {body['gmv']} of "
          f"{body['shop_gmv']} (share {body['gmv_share']}), customers {body['customers']:,}")


if __name__ == "__main__":
    main()
