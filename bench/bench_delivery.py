"""Delivery figures on a local moto server: a one-off plan to N recipients through the real
pipeline (dispatch -> delivery chunks -> metrics), AWS requests per recipient by service and
operation, recipients per second; and, in the same run, the naive design (one SQS message
and one conditional write per recipient) as a ratio.

`python -m bench delivery` (N defaults to 10,000; CRM_BENCH_RECIPIENTS overrides it).
"""

from __future__ import annotations

import json
import os
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

from bench.localstack import RequestCounter, start

SELLER = "bench-delivery"


def seed(recipients: int, now: datetime) -> None:
    """Followers (built-in segment new_followers), written straight to the table."""
    from chalicelib.domain import aggregates
    from chalicelib.store import customers
    from chalicelib.store.deliveries import batch_put
    from chalicelib.store.products import ProductItem

    followed = aggregates.to_ms(now - timedelta(days=2))
    items = []
    for i in range(recipients):
        item = customers.new_item(SELLER, f"r{i:06d}", followed)
        item.name, item.language = f"Customer {i}", ("th", "vi", "en", "id")[i % 4]
        agg = aggregates.empty()
        agg["last"]["followed"], agg["recent"]["followed"] = followed, [followed]
        item.agg, item.version = agg, 1
        items.append(item)
    batch_put(customers.CustomerItem, items)
    ProductItem(seller_id=SELLER, product_id="p1", name="Rice", price="9.90", currency="THB").save()


def make_plan(plan_id: str, now: datetime) -> None:
    from chalicelib.domain import aggregates
    from chalicelib.store.plans import PlanItem

    PlanItem(seller_id=SELLER, plan_id=plan_id, name="bench", kind="one_off", status="in_progress",
             audience={"segment_ids": ["new_followers"]}, channels=["chat"],
             content={"text": {"en": "Hi {name}, {product} at {shop}", "th": "สวัสดี {name}"}},
             product_ids=["p1"], created_at=aggregates.to_ms(now)).save()


def drain(app, short: str) -> int:
    """What the Lambda event source mapping does: receive, invoke, delete (counted too)."""
    from chalicelib.local.pollers import run_batch, sqs_handlers
    from chalicelib.settings import settings
    from chalicelib.store.aws import client

    name = settings().queue_name(short)
    handler = next(h for q, h, _ in sqs_handlers(app) if q == name)
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    handled = 0
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                  AttributeNames=["All"]).get("Messages", [])
        if not got:
            return handled
        if run_batch(handler, got, "arn:bench"):
            raise RuntimeError(f"records of {short} failed in the bench run")
        handled += len(got)
        sqs.delete_message_batch(QueueUrl=url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])


def bare_minimum(recipients: int) -> float:
    """The least any design must do on moto: read the audience, write each message into the
    inbox and one delivery record per recipient, 25 per BatchWriteItem."""
    from chalicelib.store import customers, inbox
    from chalicelib.store.deliveries import DeliveryRow, batch_put

    started = time.perf_counter()
    ids = [c.customer_id for c in customers.scan_seller(SELLER)]
    batch_put(inbox.InboxItem, [inbox.new_message(SELLER, cid, {
        "message_id": "m", "plan_id": "bare", "text": "hi", "locale": "en", "sent_at": 1})
        for cid in ids])
    batch_put(DeliveryRow, [DeliveryRow(pk=f"{SELLER}#bare", customer_id=cid, channel="chat",
                                        status="delivered") for cid in ids])
    return time.perf_counter() - started


def pipeline(app, recipients: int, counter: RequestCounter) -> tuple[float, Counter]:
    from chalicelib.delivery import dispatch
    from chalicelib.store import plans

    now = datetime.now(UTC)
    make_plan("plan-bench", now)
    counter.counts.clear()
    started = time.perf_counter()
    assert dispatch.dispatch(SELLER, "plan-bench", now) == "dispatched"
    drain(app, "delivery")
    drain(app, "metrics")
    seconds = time.perf_counter() - started
    counts = Counter(counter.counts)
    status = plans.get(SELLER, "plan-bench").status
    from chalicelib.services import performance

    perf = performance.performance(SELLER, "plan-bench")
    assert status == "sent" and perf["delivered"] == recipients, (status, perf["delivered"])
    return seconds, counts


def naive(recipients: int, counter: RequestCounter, page: int = 500) -> tuple[float, Counter]:
    """One SQS message per recipient, and per recipient one conditional PutItem (the claim),
    one UpdateItem ADD (the counter) and the inbox write. Sent in pages of ``page`` so that
    moto's queue stays shallow (a 10k-deep moto queue would measure moto, not the design)."""
    from chalicelib.settings import settings
    from chalicelib.store.aws import client
    from chalicelib.store.deliveries import DeliveryRow
    from chalicelib.store.inbox import InboxItem
    from chalicelib.store.plan_stats import PlanStatsItem

    sqs, ddb = client("sqs"), client("dynamodb")
    url = sqs.get_queue_url(QueueName=settings().queue_name("delivery"))["QueueUrl"]
    counter.counts.clear()
    started = time.perf_counter()
    for first in range(0, recipients, page):
        ids = [f"r{i:06d}" for i in range(first, min(first + page, recipients))]
        for s in range(0, len(ids), 10):
            sqs.send_message_batch(QueueUrl=url, Entries=[
                {"Id": str(j), "MessageBody": json.dumps({"plan": "naive", "customer": c})}
                for j, c in enumerate(ids[s:s + 10])])
        while True:
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10).get("Messages", [])
            if not got:
                break
            for m in got:
                cid = json.loads(m["Body"])["customer"]
                try:
                    ddb.put_item(TableName=DeliveryRow.Meta.table_name, Item={
                        "pk": {"S": f"{SELLER}#naive"}, "customer_id": {"S": cid},
                        "channel": {"S": "chat"}, "status": {"S": "delivered"}},
                        ConditionExpression="attribute_not_exists(customer_id)")
                except ddb.exceptions.ConditionalCheckFailedException:
                    continue
                ddb.put_item(TableName=InboxItem.Meta.table_name, Item={
                    "pk": {"S": f"{SELLER}#{cid}"}, "sk": {"S": "naive"},
                    "message_id": {"S": "naive"}, "plan_id": {"S": "naive"},
                    "text": {"S": "hi"}, "locale": {"S": "en"}, "sent_at": {"N": "0"}})
                ddb.update_item(TableName=PlanStatsItem.Meta.table_name,
                                Key={"pk": {"S": f"{SELLER}#naive"}, "part": {"S": "all"}},
                                UpdateExpression="ADD delivered :one",
                                ExpressionAttributeValues={":one": {"N": "1"}})
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(j), "ReceiptHandle": m["ReceiptHandle"]} for j, m in enumerate(got)])
    return time.perf_counter() - started, Counter(counter.counts)


def channel_requests(counts: Counter, recipients: int) -> int:
    """The local chat channel's own inbox writes (BatchWriteItem of 25) are the channel's
    sends, which the budget leaves out; derived, as they share an operation with ours."""
    return -(-recipients // 25) if counts.get("dynamodb.BatchWriteItem") else 0


def main() -> None:
    recipients = int(os.environ.get("CRM_BENCH_RECIPIENTS", "10000"))
    counter = RequestCounter()
    counter.attach_everywhere()
    start()
    from app import app

    seed(recipients, datetime.now(UTC))
    seconds, counts = pipeline(app, recipients, counter)
    total = sum(counts.values())
    channel = channel_requests(counts, recipients)
    ours = total - channel
    print(f"pipeline: {recipients} recipients in {seconds:.1f} s = {recipients / seconds:.0f} "
          f"recipients/s (dispatch + delivery + metrics, one process, sequential)")
    print(f"AWS requests per recipient: {ours / recipients:.3f} excluding the channel's "
          f"{channel} inbox writes (budget <= 0.3); {total / recipients:.3f} with them")
    print("  by operation: " + ", ".join(f"{k}={v}" for k, v in counts.most_common()))
    # The naive design runs at ~25 recipients/s on moto: measured on a sample, compared per
    # recipient (a full 10k run would take 7 minutes and measure the same rate).
    sample = min(recipients, int(os.environ.get("CRM_BENCH_NAIVE_SAMPLE", "1000")))
    naive_s, naive_counts = naive(sample, counter)
    naive_total = sum(naive_counts.values())
    naive_channel = naive_counts.get("dynamodb.PutItem", 0) // 2
    naive_per = (naive_total - naive_channel) / sample
    print(f"naive (sample of {sample}): {sample / naive_s:.0f} recipients/s; {naive_per:.3f} "
          f"requests per recipient excluding its {naive_channel} inbox writes")
    print("  by operation: " + ", ".join(f"{k}={v}" for k, v in naive_counts.most_common()))
    bare_s = bare_minimum(recipients)
    print(f"bare minimum (read audience, {recipients} inbox + {recipients} delivery writes "
          f"in batches of 25): {bare_s:.1f} s; pipeline/bare = {seconds / bare_s:.1f}x "
          f"(budget <= 3)")
    print(f"ratio naive/pipeline per recipient: requests {naive_per / (ours / recipients):.1f}x, "
          f"time {(naive_s / sample) / (seconds / recipients):.1f}x")


if __name__ == "__main__":
    main()
