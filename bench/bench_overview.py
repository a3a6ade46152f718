"""The overview dashboard on a local moto server (docs/overview.md): a shop with 50,000
customers (in the columnar snapshot, as the stream consumer keeps it) and
20 one-off plans sent over the last 30 days, each to 5,000 of them, with reads, clicks,
attributed orders and the shop's own paid and refunded orders (delivery/rollups.py).

The writers' cost (AWS requests per message, per engagement fact, per shop order event) is
measured on a sample (moto runs a 100-action transaction in about half a second here);
the shop's whole rollup state is then computed and batch-written (the items the writers
leave). Prints the writers' cost, then per window (7 and 30 days;
CRM_BENCH_OVERVIEW_DAYS=7,30,365 adds a year) the latency of GET /v1/overview's service
call (p50, p95, max) and the AWS requests one call makes, by operation. Latency here is moto's, over HTTP on this loaded
machine: the request counts are the figure that carries over to AWS.

`python -m bench overview`; CRM_BENCH_OVERVIEW_CUSTOMERS, CRM_BENCH_OVERVIEW_PLANS,
CRM_BENCH_OVERVIEW_RECIPIENTS, CRM_BENCH_OVERVIEW_CALLS and CRM_BENCH_OVERVIEW_DAYS change
the sizes. No assertions.
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
CALLS = int(os.environ.get("CRM_BENCH_OVERVIEW_CALLS", "3"))
WINDOWS = [int(d) for d in os.environ.get("CRM_BENCH_OVERVIEW_DAYS", "7,30").split(",")]
SHOP_ORDERS = 2000
SELLER = f"bench-overview-{int(time.time())}"


def main() -> None:
    from bench.bench_segments import _patient_pynamodb

    _patient_pynamodb()
    counter = RequestCounter()
    counter.attach_everywhere()
    start()
    from chalicelib.domain import aggregates

    now = datetime.now(UTC)
    now_ms = aggregates.to_ms(now)
    _snapshot(now_ms)
    _plans(now_ms)
    _writers(counter, now_ms)
    _fill_rollups(now_ms)
    for days in WINDOWS:
        _measure(counter, days)


def _snapshot(now_ms: int) -> None:
    """The shop's customers as the stream consumer would have them: bench_segments' synthetic
    customers appended to the columnar snapshot (``snapshots.apply``, as a stream batch
    does), with marks at now. The overview reads customers only through the snapshot (and
    the customers changed since its marks: none here), so the table itself is not filled:
    on moto a 50,000-customer fill and its rebuild scan take a quarter of an hour."""
    from bench.bench_segments import synthetic_customers
    from chalicelib.settings import settings
    from chalicelib.snapshots import apply
    from chalicelib.store.customers import new_item

    t = time.perf_counter()
    items = []
    for r in synthetic_customers(CUSTOMERS, now_ms):
        item = new_item(SELLER, r["customer_id"], now_ms)
        item.age, item.gender, item.region = r["age"], r["gender"], r["region"]
        item.language, item.tags, item.agg = r["language"], set(r["tags"]) or None, r["agg"]
        item.changed_at, item.version = now_ms - 300_000, 1
        items.append(item)
    apply(SELLER, items, {k: now_ms for k in range(settings().customer_shards)})
    print(f"snapshot of {CUSTOMERS:,} customers in {time.perf_counter() - t:.1f} s")


def _plans(now_ms: int) -> None:
    from chalicelib.store import plans

    for i in range(PLANS):
        plans.PlanItem(seller_id=SELLER, plan_id=_plan_id(i), name=f"Bench plan {i}",
                       kind="one_off", status="sent", channels=["chat"],
                       audience={"segment_ids": ["new_followers"]},
                       created_at=now_ms, finished_at=now_ms).save()


def _plan_id(i: int) -> str:
    return f"pl_bench_{i:03d}"


def _synthetic(now_ms: int, seller: str, plans: int, recipients: int, customers: int,
               shop_orders: int) -> tuple[list, list, list]:
    """PLANS sends (plan i sent 1.5 i days ago, 1 h before this time of day), each to
    ``recipients`` random customers: 30% read, 10% also clicked, 2% also ordered 129.90;
    and ``shop_orders`` other shop orders over 60 days, every 20th refunded. Returns (chunks of
    250 messages per plan, fact batches of up to 200, shop event batches of 50)."""
    from chalicelib.delivery.chunks import Fact
    from chalicelib.domain.aggregates import DAY_MS

    rng = random.Random(11)
    everyone = [f"c{i:06d}" for i in range(customers)]
    chunks, facts = [], []
    for i in range(plans):
        sent = now_ms - int(1.5 * i * DAY_MS) - 3_600_000
        chosen = rng.sample(everyone, min(recipients, customers))
        chunks += [(_plan_id(i), [(c, c, sent, "delivered") for c in chosen[k:k + 250]])
                   for k in range(0, len(chosen), 250)]
        mine = []
        for n, cid in enumerate(chosen):
            at, roll = sent + rng.randrange(1, 3 * 3_600_000), rng.random()
            touch = {"plan_id": _plan_id(i), "part": "c#000000", "customer_id": cid, "at": at,
                     "sent_at": sent}
            if roll < 0.30:
                mine.append(Fact(key=f"read:{cid}", add={"read": 1}, **touch))
            if roll < 0.10:
                mine.append(Fact(key=f"clicked:{cid}", add={"clicked": 1}, **touch))
            if roll < 0.02:
                mine.append(Fact(key=f"order:o-{i}-{n}", add={"orders": 1, "gmv": "129.90"},
                                 **{**touch, "at": at + 60_000}))
        facts += [mine[k:k + 200] for k in range(0, len(mine), 200)]
    # The attributed orders are orders of the shop too; then the shop's other orders.
    events = [{"type": "order_paid", "order_id": f.key.partition(":")[2], "customer_id":
               f.customer_id, "amount": "129.90",
               "occurred_at": datetime.fromtimestamp(f.at / 1000, UTC).isoformat()}
              for batch in facts for f in batch if f.key.startswith("order:")]
    for k in range(shop_orders):
        at = datetime.fromtimestamp((now_ms - rng.randrange(0, 60 * DAY_MS)) / 1000, UTC)
        events.append({"type": "order_paid", "order_id": f"shop-{k}", "customer_id": "x",
                       "amount": "59.00", "occurred_at": at.isoformat()})
        if k % 20 == 0:
            events.append({"type": "order_refunded", "order_id": f"shop-{k}", "customer_id": "x",
                           "occurred_at": datetime.fromtimestamp(now_ms / 1000, UTC).isoformat()})
    return chunks, facts, [events[k:k + 50] for k in range(0, len(events), 50)]


def _writers(counter: RequestCounter, now_ms: int) -> None:
    """What the real writers cost, on a sample (moto's transactions are slow: the shop's
    full state is then written directly, see ``_fill_rollups``)."""
    from chalicelib.delivery import rollups

    seller = SELLER + "-writers"
    chunks, facts, events = _synthetic(now_ms, seller, 1, 500, 5000, 60)
    for name, work, count in (
            ("messages", lambda: [rollups.fold_messages(seller, p, c, now_ms) for p, c in chunks],
             sum(len(c) for _, c in chunks)),
            ("engagement facts (batches of up to 200, as the metrics queue carries them)",
             lambda: [rollups.fold_facts(seller, f, now_ms) for f in facts],
             sum(len(f) for f in facts)),
            ("shop order events", lambda: [rollups.on_events(seller, b, datetime.now(UTC))
                                           for b in events], sum(len(b) for b in events))):
        counter.counts.clear()
        t = time.perf_counter()
        work()
        print(f"writers: {count:,} {name} in {time.perf_counter() - t:.1f} s, "
              f"{counter.total() / max(count, 1):.3f} AWS requests each "
              f"{dict(sorted(counter.counts.items()))}")


def _fill_rollups(now_ms: int) -> None:
    """The rollups the writers would leave for the whole shop, computed here and written
    with batch writes (the same items: day and plan rollups, latest times, shop orders)."""
    from chalicelib.domain import overview as domain
    from chalicelib.settings import settings
    from chalicelib.store import overview as store
    from chalicelib.store.aws import client

    chunks, facts, events = _synthetic(now_ms, SELLER, PLANS, RECIPIENTS, CUSTOMERS, SHOP_ORDERS)
    zone = "UTC"
    counters: dict[tuple[str, str], Counter] = {}
    seen: set[tuple] = set()
    latest: dict[tuple[str, str], int] = {}

    def add(key: tuple[str, str], **amounts) -> None:
        counters.setdefault(key, Counter()).update(amounts)

    def once(*mark) -> bool:
        if mark in seen:
            return False
        seen.add(mark)
        return True

    for plan_id, chunk in chunks:
        for cid, _, sent, _ in chunk:
            day = domain.local_day(sent, zone)
            add((store.sent_pk(SELLER), f"{day}#{plan_id}#{domain.shard(cid)}"), delivered=1)
            if once("reached", day, cid):
                add((store.day_pk(SELLER), f"{day}#{domain.shard(cid)}"), reached=1)
            latest[("reached", cid)] = max(sent, latest.get(("reached", cid), 0))
    for batch in facts:
        for f in batch:
            kind, _, rest = f.key.partition(":")
            day = domain.local_day(f.at, zone)
            if kind in ("read", "clicked"):
                if once(kind, day, f.customer_id):
                    add((store.day_pk(SELLER), f"{day}#{domain.shard(f.customer_id)}"), **{kind: 1})
                latest[(kind, f.customer_id)] = max(f.sent_at, latest.get((kind, f.customer_id), 0))
            else:
                add((store.day_pk(SELLER), f"{day}#{domain.shard(rest)}"), orders=1, gmv=129.90)
                sent_day = domain.local_day(f.sent_at, zone)
                add((store.sent_pk(SELLER), f"{sent_day}#{f.plan_id}#{domain.shard(rest)}"),
                    orders=1, gmv=129.90)
                latest[("ordered", f.customer_id)] = max(f.sent_at,
                                                        latest.get(("ordered", f.customer_id), 0))
    refunded = {e["order_id"] for b in events for e in b if e["type"] == "order_refunded"}
    for batch in events:
        for e in batch:
            if e["type"] == "order_paid" and e["order_id"] not in refunded:
                day = domain.local_day(int(datetime.fromisoformat(e["occurred_at"]).timestamp()
                                           * 1000), zone)
                add((store.day_pk(SELLER), f"{day}#{domain.shard(e['order_id'])}"),
                    shop_orders=1, shop_gmv=float(e["amount"]))
    items = []
    for (pk, sk), amounts in counters.items():
        item = {"pk": {"S": pk}, "sk": {"S": sk},
                **{k: {"N": f"{v:.2f}" if k.endswith("gmv") else str(v)} for k, v in amounts.items()}}
        if pk.endswith("#sent"):
            item["plan_id"] = {"S": sk.split("#")[1]}
        items.append(item)
    items += [{"pk": {"S": store.last_pk(SELLER, metric)}, "sk": {"S": cid}, "t": {"N": str(t)}}
              for (metric, cid), t in latest.items()]
    table = settings().table_name("overview")
    ddb = client("dynamodb")

    def write(part: list[dict]) -> None:
        for k in range(0, len(part), 25):
            pending = {table: [{"PutRequest": {"Item": i}} for i in part[k:k + 25]]}
            while pending:
                pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}

    t = time.perf_counter()
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(write, [items[k::4] for k in range(4)]))
    messages = sum(len(c) for _, c in chunks)
    print(f"rollups of {PLANS} plans x {RECIPIENTS:,} recipients ({messages:,} messages, "
          f"{sum(len(f) for f in facts):,} engagement facts, {sum(len(b) for b in events):,} "
          f"shop order events): {len(items):,} items written in {time.perf_counter() - t:.1f} s")


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
