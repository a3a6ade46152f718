"""The send rate: a one-off plan to N recipients at R messages a minute through the real
pipeline on a local moto server, with the pacing clock (and the SQS delays it asks for)
run SPEED× faster than real time. Prints the paced duration (first to last channel call),
the most messages in any 60 s, AWS requests per recipient, and whether performance is exact.

`python -m bench pacing` (CRM_BENCH_PACED_RECIPIENTS 1,000, CRM_BENCH_PACED_RATE 300,
CRM_BENCH_PACED_SPEED 1: real time, about 3.5 minutes; faster clocks distort it, since a
paced second then lasts less than one reservation round trip on moto).
"""

from __future__ import annotations

import math
import os
import time
from collections import Counter
from datetime import UTC, datetime

from bench.bench_delivery import SELLER, make_plan, seed
from bench.localstack import RequestCounter, start


def warp(speed: int) -> list[int]:
    """Speed the pacing clock up; returns the list each channel call's paced time goes to."""
    from chalicelib.delivery import channels, pacing

    real0, fake0 = time.time(), 1_900_000_000_000
    pacing.clock_ms = lambda: fake0 + int((time.time() - real0) * 1000 * speed)
    pacing.delay_seconds = lambda retry_at_ms: max(1, math.ceil(
        (retry_at_ms - pacing.clock_ms()) / 1000 / speed))
    times: list[int] = []
    original = channels.LocalChat.send

    def send(self, messages):
        times.extend([pacing.clock_ms()] * len(messages))
        return original(self, messages)

    channels.LocalChat.send = send
    return times


def drain_until_sent(app, plan_id: str) -> None:
    from chalicelib.local.pollers import run_batch, sqs_handlers
    from chalicelib.settings import settings
    from chalicelib.store import plans
    from chalicelib.store.aws import client

    sqs = client("sqs")
    queues = {}
    for short in ("delivery", "metrics"):
        name = settings().queue_name(short)
        queues[short] = (sqs.get_queue_url(QueueName=name)["QueueUrl"],
                         next(h for q, h, _ in sqs_handlers(app) if q == name))
    while True:
        moved = 0
        for url, handler in queues.values():
            got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                      AttributeNames=["All"]).get("Messages", [])
            if got:
                if run_batch(handler, got, "arn:bench"):
                    raise RuntimeError("records failed in the bench run")
                sqs.delete_message_batch(QueueUrl=url, Entries=[
                    {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(got)])
                moved += len(got)
        if not moved:
            if plans.get(SELLER, plan_id).status == "sent":
                return
            time.sleep(0.2)


def max_in_window(times: list[int], window_ms: int = 60_000) -> int:
    times, best, start_ = sorted(times), 0, 0
    for end, t in enumerate(times):
        while t - times[start_] >= window_ms:
            start_ += 1
        best = max(best, end - start_ + 1)
    return best


def main() -> None:
    recipients = int(os.environ.get("CRM_BENCH_PACED_RECIPIENTS", "1000"))
    rate = int(os.environ.get("CRM_BENCH_PACED_RATE", "300"))
    speed = int(os.environ.get("CRM_BENCH_PACED_SPEED", "1"))
    counter = RequestCounter()
    counter.attach_everywhere()
    start()
    from app import app
    from chalicelib.delivery import dispatch
    from chalicelib.domain.shop_settings import SettingsPut, from_put
    from chalicelib.services import performance
    from chalicelib.store import shop_settings

    now = datetime.now(UTC)
    seed(recipients, now)
    shop_settings.SettingsItem(seller_id=SELLER, doc=from_put(
        SELLER, SettingsPut(send_rate_per_minute=rate)).model_dump(mode="json")).save()
    times = warp(speed)
    make_plan("plan-paced", now)
    counter.counts.clear()
    started = time.perf_counter()
    assert dispatch.dispatch(SELLER, "plan-paced", now) == "dispatched"
    drain_until_sent(app, "plan-paced")
    real_s = time.perf_counter() - started
    counts = Counter(counter.counts)
    perf = performance.performance(SELLER, "plan-paced")
    paced_s = (max(times) - min(times)) / 1000
    print(f"paced plan: {recipients} recipients at {rate}/min: channel calls span {paced_s:.0f} "
          f"paced s = {paced_s / 60:.2f} min ({real_s:.1f} s real at {speed}x)")
    print(f"most messages in any 60 s: {max_in_window(times)} (limit {rate}); sends "
          f"{len(times)}, delivered {perf['delivered']}, recipients {perf['recipients']}")
    polls = counts.pop("sqs.ReceiveMessage", 0)   # this loop's polling while chunks wait
    print(f"AWS requests per recipient: {sum(counts.values()) / recipients:.3f} without the "
          f"bench's {polls} polls (each paced attempt re-reads chunk, plan, settings and "
          f"recipients); by operation: " + ", ".join(f"{k}={v}" for k, v in counts.most_common(8)))


if __name__ == "__main__":
    main()
