"""Automated-plan figures on a local moto server: N order_paid events (each one occurrence of
an active thank-you plan, due one minute after it occurred) through the trigger subscriber,
the due sweeper thread of the local stack (every 2 s, running while the events arrive) and
the metrics aggregator.

Prints triggers per second, AWS requests per message sent by operation (the trigger, the
timer and the counters; ingestion itself is not counted), and the lateness of due messages
(finished_at - max(due_at, created_at): p50, p95, max).

`python -m bench automated` (N defaults to 10,000; CRM_BENCH_EVENTS overrides it). With
CRM_BENCH_RATE (events per second) the events arrive steadily at that rate instead of in one
burst, each occurring as it arrives (due a minute later).
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from bench.localstack import RequestCounter, start

SELLER = "bench-automated"
PLAN = "pl_bench_thank_you"


def main() -> None:
    n = int(os.environ.get("CRM_BENCH_EVENTS", "10000"))
    rate = float(os.environ.get("CRM_BENCH_RATE", "0") or 0)
    counter = RequestCounter()
    counter.attach_everywhere()
    start()
    from app import app  # noqa: F401  (the handlers' imports, as a Lambda would have them)
    from chalicelib.delivery import counters, triggers
    from chalicelib.domain import aggregates
    from chalicelib.settings import settings
    from chalicelib.store import occurrences, plans
    from chalicelib.store.aws import client

    now = datetime.now(UTC)
    plans.PlanItem(seller_id=SELLER, plan_id=PLAN, name="bench", kind="automated",
                   status="active", channels=["chat"], trigger={"type": "thank_you",
                                                                "delay_minutes": 1},
                   content={"text": {"en": "Thanks {name}"}}, extra={"cooldown_hours": 24},
                   created_at=aggregates.to_ms(now)).save()
    occurrences.register(SELLER, PLAN, {"type": "thank_you", "delay_minutes": 1})
    # Events spread over the last 50 s: due over the next 10-60 s.
    events = [{"event_id": f"e{i}", "type": "order_paid", "customer_id": f"c{i:06d}",
               "order_id": f"o{i}", "amount": "10.00", "currency": "THB", "product_ids": [],
               "occurred_at": (now - timedelta(seconds=50 * i / n)).isoformat()}
              for i in range(n)]
    from chalicelib.store import customers
    from chalicelib.store.deliveries import batch_put
    items = []
    for e in events:
        item = customers.new_item(SELLER, e["customer_id"], aggregates.to_ms(now))
        item.name, item.agg, item.version = "C", aggregates.empty(), 1
        items.append(item)
    batch_put(customers.CustomerItem, items)

    # The sweeper runs while the events arrive, as on the stack (every 2 s).
    counter.counts.clear()
    stop = threading.Event()
    from chalicelib.local.timers import INTERVAL_SECONDS, DueSweeper
    sweeper = DueSweeper(stop)
    sweeper.start()
    started = time.perf_counter()
    for i in range(0, n, 50):      # the events queue carries 50 events per message
        if rate:
            time.sleep(max(0.0, started + i / rate - time.perf_counter()))
            at = datetime.now(UTC).isoformat()
            for e in events[i:i + 50]:
                e["occurred_at"] = at
        triggers.on_events(SELLER, events[i:i + 50], datetime.now(UTC))
    trigger_s = time.perf_counter() - started
    print(json.dumps({"events": n, "arrival": f"{rate:g}/s" if rate else "burst",
                      "trigger_s": round(trigger_s, 1),
                      "triggers_per_second": round(n / trigger_s, 1)}), flush=True)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and _any_due():
        time.sleep(2)
    stop.set()
    sweeper.join()
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=settings().queue_name("metrics"))["QueueUrl"]
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
        if not got:
            break
        counters.handle_batch({"Records": [{"body": m["Body"], "messageId": m["MessageId"]}
                                           for m in got]})
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
    total = Counter(counter.counts)

    late = []
    sent = 0
    for item in occurrences.OccurrenceItem.query(f"{SELLER}#{PLAN}"):
        if item.status == "sent":
            sent += 1
            # From the moment it was both due and stored (moto's writes are slow, so on a big
            # run some occurrences are created after their due time).
            late.append((item.finished_at - max(item.due_at, item.created_at)) / 1000)
    late.sort()

    def pct(p: float) -> float:
        return late[min(len(late) - 1, int(p * len(late)))] if late else float("nan")

    print(json.dumps({
        "events": n, "arrival": f"{rate:g}/s" if rate else "burst", "messages_sent": sent,
        "triggers_per_second": round(n / trigger_s, 1),
        "requests_per_message": round(sum(total.values()) / max(sent, 1), 3),
        "by_operation": {k: round(v / max(sent, 1), 3) for k, v in total.most_common()},
        "lateness_s": {"p50": round(pct(0.5), 2), "p95": round(pct(0.95), 2),
                       "max": round(late[-1], 2) if late else None},
        "sweep_interval_s": INTERVAL_SECONDS,
        "sweep_workers": settings().timer_sweep_workers}, indent=2))


def _any_due() -> bool:
    """Whether the due index still holds an occurrence: one item per shard at most, so the
    wait adds next to nothing to the load it measures (counting the plan's occurrences every
    2 s read all 10,000 of them each time). An index Query racing the sweeper's writes can
    trip moto's threaded server (it builds the next key from an item being changed): a
    failed look counts as "still due"."""
    from chalicelib.domain import aggregates
    from chalicelib.store import occurrences

    far = aggregates.to_ms(datetime.now(UTC) + timedelta(days=365))
    try:
        return any(occurrences.due(shard, far, 1) for shard in range(occurrences.DUE_SHARDS))
    except Exception:
        return True


if __name__ == "__main__":
    main()
