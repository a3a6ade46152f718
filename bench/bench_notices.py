"""Order-notice figures on a local moto server: a chat+SMS notice of N orders (default
10,000; CRM_BENCH_NOTICE_ORDERS overrides it) through the real pipeline, with the local SMS
channel: messages per second, AWS requests per message by operation, and what the send's
estimate + reservation cost in requests.

`python -m bench notices`.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal

from bench.bench_delivery import drain
from bench.localstack import RequestCounter, start

SELLER = "bench-notices"


def seed(orders: int, now: datetime) -> list[str]:
    """Customers with phones and one paid order each, written straight to the tables."""
    from chalicelib.domain import aggregates
    from chalicelib.store import customers
    from chalicelib.store import orders as order_store
    from chalicelib.store.deliveries import batch_put

    paid = aggregates.to_ms(now - timedelta(hours=5))
    items, ids = [], []
    for i in range(orders):
        item = customers.new_item(SELLER, f"b{i:06d}", paid)
        item.name, item.language, item.phone = f"Buyer {i}", ("zh", "en", "th")[i % 3], f"+6681{i:07d}"
        item.agg, item.version = aggregates.empty(), 1
        items.append(item)
        ids.append(f"DY{i:08d}")
    batch_put(customers.CustomerItem, items)
    order_store.record_paid(SELLER, [(o, f"b{i:06d}", paid) for i, o in enumerate(ids)])
    return ids


def main() -> None:
    n = int(os.environ.get("CRM_BENCH_NOTICE_ORDERS", "10000"))
    counter = RequestCounter()
    counter.attach_everywhere()
    start()
    from app import app
    from chalicelib.domain.plans import PlanCreate
    from chalicelib.services import billing, order_notices, performance
    from chalicelib.services import plans as plan_service
    from chalicelib.store import billing as billing_store
    from chalicelib.store import plans as plan_store

    now = datetime.now(UTC)
    ids = seed(n, now)
    billing_store.topup(SELLER, "bench", Decimal("1000"), 0)
    body = PlanCreate.model_validate({
        "name": "bench notice", "kind": "order_notice", "scenario": "delayed_shipping",
        "channels": ["chat", "sms"], "action": "draft",
        "orders": [{"order_id": o, "product_name": "Rice", "ship_date": "12月05日",
                    "reason": "a storm"} for o in ids]})
    counter.counts.clear()
    started = time.perf_counter()
    plan = plan_service.create(SELLER, body, "bench", now)
    create_s, create_counts = time.perf_counter() - started, Counter(counter.counts)
    item = plan_store.get(SELLER, plan["plan_id"])

    counter.counts.clear()
    started = time.perf_counter()
    cost = order_notices.estimate(item)
    estimate_s, estimate_counts = time.perf_counter() - started, Counter(counter.counts)
    move = order_notices.reserving_move(item, plan_service._settings(SELLER), now)
    counter.counts.clear()      # reserving_move re-estimates; count the reservation itself
    started = time.perf_counter()
    moved = move(SELLER, item.plan_id, {"draft"}, "in_progress", send_at=0, warnings=[],
                 updated_at=0)
    reserve_s, reserve_counts = time.perf_counter() - started, Counter(counter.counts)
    assert moved is not None and moved.status == "in_progress"

    from chalicelib.delivery import dispatch

    counter.counts.clear()
    started = time.perf_counter()
    assert dispatch.dispatch(SELLER, item.plan_id, now) == "dispatched"
    drain(app, "delivery")
    drain(app, "metrics")
    seconds, counts = time.perf_counter() - started, Counter(counter.counts)
    perf = performance.performance(SELLER, item.plan_id)
    messages = 2 * n
    assert perf["delivered"] == messages, perf
    print(f"notice of {n} orders, chat+SMS: {messages} messages in {seconds:.1f} s = "
          f"{messages / seconds:.0f} messages/s (dispatch + delivery + metrics, one process)")
    total = sum(counts.values())
    channel = -(-n // 25) * 2       # the local chat and SMS channels' own inbox BatchWriteItems
    print(f"AWS requests per message: {(total - channel) / messages:.3f} excluding the channels' "
          f"{channel} inbox writes; {total / messages:.3f} with them")
    print("  by operation: " + ", ".join(f"{k}={v}" for k, v in counts.most_common()))
    print(f"create (validate {n} orders against the order index, write them): {create_s:.1f} s, "
          f"{sum(create_counts.values())} requests: "
          + ", ".join(f"{k}={v}" for k, v in create_counts.most_common()))
    print(f"estimate ({cost} {billing.summary(SELLER)['currency']}): {estimate_s:.1f} s, "
          f"{sum(estimate_counts.values())} requests: "
          + ", ".join(f"{k}={v}" for k, v in estimate_counts.most_common()))
    print(f"reservation (the 402 check + reserve + status move, one transaction): "
          f"{reserve_s * 1000:.0f} ms, {sum(reserve_counts.values())} requests: "
          + ", ".join(f"{k}={v}" for k, v in reserve_counts.most_common()))
    print(f"charged {perf['cost']}; billing now {billing.summary(SELLER)}")


if __name__ == "__main__":
    main()
