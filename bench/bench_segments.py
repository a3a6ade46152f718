"""Segment evaluation: (a) the rule engine on 100,000 in-memory profiles (one core), and
(b) a 100,000-customer seller evaluated on the local stack (moto server), per shard.

`python -m bench segments`; CRM_BENCH_SEGMENT_CUSTOMERS overrides (b)'s size (default
20,000: see LOCAL_CUSTOMERS).
"""

from __future__ import annotations

import os
import random
import time
from datetime import UTC, datetime

DAY_MS = 86_400_000
PROFILES = 100_000
# moto answers a Query at ~400 items/s, so (b) defaults to 20,000 customers to keep the whole
# bench run within minutes; CRM_BENCH_SEGMENT_CUSTOMERS=100000 measures the full size.
LOCAL_CUSTOMERS = 20_000
RULE = {"all": [
    {"attr": "age", "op": "between", "value": [18, 45]},
    {"attr": "gender", "op": "in", "value": ["female", "unknown"]},
    {"event": "order", "within_days": 90, "count": {"gte": 1}},
    {"any": [{"attr": "is_follower", "op": "eq", "value": True},
             {"event": "engaged", "within_days": 30}]},
    {"tags": {"none": ["churn_risk"]}},
]}
TAGS = {"vip": "t-vip", "churn_risk": "t-churn", "paid": "t-paid"}


def synthetic_agg(rng: random.Random, now_ms: int) -> dict:
    """Aggregates shaped like ingestion makes them: orders, follows, engagement, outreach."""
    from chalicelib.domain import aggregates

    agg = aggregates.empty()
    for n in range(rng.choice([0, 0, 1, 1, 2, 3, 5])):
        paid = now_ms - rng.randint(0, 360) * DAY_MS - rng.randint(0, DAY_MS)
        agg["orders"][f"o{n}"] = {"paid": paid, "amount": f"{rng.randint(5, 500)}.00",
                                  "cur": "THB", "refunded": paid + DAY_MS if rng.random() < 0.1 else None}
    for etype, k in (("product_viewed", 8), ("cart_added", 3), ("favorited", 2),
                     ("live_viewed", 3), ("video_liked", 4), ("message_read", 2)):
        times = sorted(now_ms - rng.randint(0, 360 * DAY_MS) for _ in range(rng.randint(0, k)))
        if times:
            agg["recent"][etype] = times
            agg["last"][etype] = times[-1]
    if rng.random() < 0.4:
        t = now_ms - rng.randint(0, 300) * DAY_MS
        agg["recent"]["followed"], agg["last"]["followed"] = [t], t
    return agg


def synthetic_customers(n: int, now_ms: int) -> list[dict]:
    rng = random.Random(7)
    tag_ids = list(TAGS.values())
    return [{"customer_id": f"c{i:06d}", "age": rng.choice([None, *range(16, 70)]),
             "gender": rng.choice(["female", "male", "unknown", None]),
             "region": rng.choice(["Bangkok", "Java", "Hanoi"]),
             "language": rng.choice(["th", "vi", "id", "en"]),
             "tags": frozenset(rng.sample(tag_ids, rng.randint(0, 2))),
             "agg": synthetic_agg(rng, now_ms)} for i in range(n)]


class _Resolver:
    def segment(self, segment_id: str) -> dict | None:
        from chalicelib.domain.builtins import BUILTIN_RULES

        return BUILTIN_RULES.get(segment_id)

    def tag_id(self, name: str) -> str | None:
        return TAGS.get(name)


def _rate(keep, people: list) -> tuple[float, int]:
    best, matched = float("inf"), 0
    for _ in range(3):
        started = time.perf_counter()
        matched = sum(1 for p in people if keep(p))
        best = min(best, time.perf_counter() - started)
    return len(people) / best, matched


def engine() -> None:
    from chalicelib.domain import builtins, rules
    from chalicelib.domain.compiler import compile_rule
    from chalicelib.domain.profile import Profile

    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    raw = synthetic_customers(PROFILES, now_ms)
    started = time.perf_counter()
    people = [Profile(r["customer_id"], age=r["age"], gender=r["gender"], region=r["region"],
                      language=r["language"], tags=r["tags"], agg=r["agg"]) for r in raw]
    built = time.perf_counter() - started
    started = time.perf_counter()
    keep = compile_rule(rules.parse(RULE).rule, now_ms, _Resolver())
    compiled = time.perf_counter() - started
    rate, matched = _rate(keep, people)
    print(f"(a) rule engine: {PROFILES:,} in-memory profiles, 5-condition rule, {matched:,} match")
    print(f"    {rate:,.0f} profiles/s on one core (target >= 200,000/s: {rate / 200_000:.1f}x); "
          f"compiled once in {compiled * 1e6:.0f} us")
    # Worst case: no short-circuit, every condition evaluated on every profile = the sum of
    # each condition's own cost.
    per_condition = [1 / _rate(compile_rule(rules.parse(c).rule, now_ms, _Resolver()), people)[0]
                     for c in RULE["all"]]
    worst = 1 / sum(per_condition)
    print(f"    worst case (all 5 conditions evaluated on every profile): {worst:,.0f} profiles/s "
          f"({worst / 200_000:.1f}x target); per condition, us: "
          + ", ".join(f"{t * 1e6:.2f}" for t in per_condition))
    started = time.perf_counter()
    sizes = {seg: sum(1 for p in people if pred(p))
             for seg, pred in builtins.compiled(now_ms).items()}
    took = time.perf_counter() - started
    print(f"    all 7 built-ins: {PROFILES * 7 / took:,.0f} profile-checks/s; sizes {sizes}")
    print(f"    building profiles from aggregates: {PROFILES / built:,.0f}/s "
          f"(once per customer read, not per rule)")


def main() -> None:
    engine()
    local_stack()


def _fill(seller: str, n: int, now_ms: int) -> float:
    """Write n synthetic customers with batch writes, shards in parallel; returns seconds."""
    from concurrent.futures import ThreadPoolExecutor

    from chalicelib.store.customers import CustomerItem
    from chalicelib.store.customers import new_item as new_customer

    raw = synthetic_customers(n, now_ms)

    def write(part: list[dict]) -> None:
        with CustomerItem.batch_write() as batch:   # 25 per request, retries unprocessed
            for r in part:
                item = new_customer(seller, r["customer_id"], now_ms)
                item.age, item.gender, item.region = r["age"], r["gender"], r["region"]
                item.language, item.tags, item.agg = r["language"], set(r["tags"]) or None, r["agg"]
                # as store.customers.save stamps them (the snapshot's read path reads both)
                item.changed_at, item.version = int(time.time() * 1000), 1
                batch.save(item)

    started = time.perf_counter()
    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(write, [raw[i::8] for i in range(8)]))
    return time.perf_counter() - started


def _patient_pynamodb() -> None:
    """moto needs seconds per 1 MB Query page, more with 8 shards read at once under one GIL:
    give this process's PynamoDB a read timeout moto can meet (before pynamodb is imported)."""
    import sys
    import tempfile

    if "pynamodb" in sys.modules:
        return
    path = os.path.join(tempfile.mkdtemp(prefix="bench-seg-"), "pynamodb_settings.py")
    with open(path, "w") as handle:
        handle.write("read_timeout_seconds = 900\n")
    os.environ["PYNAMODB_CONFIG"] = path


def local_stack() -> None:
    _patient_pynamodb()
    from bench.localstack import start

    start()   # its own moto server (each bench runs in a process of its own)
    from chalicelib import audiences
    from chalicelib.domain import aggregates
    from chalicelib.domain.profile import from_record
    from chalicelib.settings import settings
    from chalicelib.store.base import shard_pks
    from chalicelib.store.customers import CustomerItem
    from chalicelib.store.segments import RULE_FIELDS

    n = int(os.environ.get("CRM_BENCH_SEGMENT_CUSTOMERS", str(LOCAL_CUSTOMERS)))
    seller = f"bench-seg-{int(time.time())}"
    now = datetime.now(UTC)
    wrote = _fill(seller, n, aggregates.to_ms(now))
    print(f"(b) local stack (moto server in this process): wrote {n:,} customers in {wrote:.1f} s "
          f"({n / wrote:,.0f}/s, batch writes, 8 threads)")
    rule = {"all": [c for c in RULE["all"] if "tags" not in c]}   # this seller has no tags
    started = time.perf_counter()
    ids = audiences.matching_ids(seller, rule, now)
    total = time.perf_counter() - started
    shards = settings().customer_shards
    print(f"    matching_ids: {n:,} customers evaluated in {total:.1f} s = {n / total:,.0f} "
          f"customers/s, {shards} shards read in parallel threads; {len(ids):,} match")
    keep = audiences.compile_profiles(seller, rule, now)
    t0 = time.perf_counter()
    items = list(CustomerItem.query(shard_pks(seller)[0], consistent_read=True,
                                    attributes_to_get=RULE_FIELDS))
    t1 = time.perf_counter()
    sum(1 for item in items if keep(from_record(item)))
    t2 = time.perf_counter()
    count = len(items)
    print(f"    one shard alone: {count:,} customers = {count / (t2 - t0):,.0f} customers/s per "
          f"shard (reading {count / (t1 - t0):,.0f}/s, profile + rule {count / (t2 - t1):,.0f}/s)")
    print(f"    => a 100,000-customer seller on this stack: ~{100_000 / (n / total):,.0f} s; "
          f"moto's response serialiser (~{1000 * (t1 - t0) / count:.1f} ms per item, under the "
          "GIL shared with the readers) is the bottleneck, so parallel shards do not add up here")
