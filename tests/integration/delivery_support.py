"""Shared steps of the delivery tests: a shop with followers, a plan over the API, and the
pipeline run queue by queue (dispatch -> delivery -> metrics, events for engagement)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

LANGUAGES = ("th", "vi", "en", "id", None)
LEASED = ("dispatch", "delivery")


def iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def seed_followers(api, count: int, blocked: tuple[int, ...] = (), unsubscribed: tuple[int, ...] = (),
                   prefix: str = "c") -> list[str]:
    """``count`` customers who followed the shop yesterday (built-in segment new_followers),
    with names and a spread of languages; the given indexes blocked / unsubscribed."""
    now = datetime.now(UTC)
    ids = [f"{prefix}{i:03d}" for i in range(count)]
    events = []
    for i, cid in enumerate(ids):
        language = LANGUAGES[i % len(LANGUAGES)]
        body = {"name": f"Customer {i}", **({"language": language} if language else {})}
        assert api.put(f"/v1/customers/{cid}", body).status_code in (200, 201)
        events.append({"event_id": f"{cid}-f", "type": "followed", "customer_id": cid,
                       "occurred_at": iso(now - timedelta(days=1))})
        if i in blocked:
            events.append({"event_id": f"{cid}-b", "type": "blocked", "customer_id": cid,
                           "occurred_at": iso(now - timedelta(hours=2))})
        if i in unsubscribed:
            events.append({"event_id": f"{cid}-u", "type": "unsubscribed", "customer_id": cid,
                           "occurred_at": iso(now - timedelta(hours=2))})
    for start in range(0, len(events), 500):
        assert api.post("/v1/events", {"events": events[start:start + 500]}).status_code == 202
    return ids


def add_product(api, product_id: str = "p1", name: str = "Jasmine Rice 5kg") -> str:
    r = api.put(f"/v1/products/{product_id}", {"name": name, "price": "129.90", "currency": "THB"})
    assert r.status_code in (200, 201), r.json
    return product_id


def create_plan(api, segment_ids=("new_followers",), action: str = "send", **extra) -> dict:
    body = {"name": "Weekend rice sale", "kind": "one_off",
            "audience": {"segment_ids": list(segment_ids)}, "channels": ["chat"],
            "content": {"text": {"en": "Hi {name}, {product} from {shop} {voucher}",
                                 "th": "สวัสดี {name} {product}"}},
            "product_ids": [add_product(api)], "action": action, **extra}
    r = api.post("/v1/plans", body)
    assert r.status_code == 201, r.json
    return r.json


def _queue(app, short: str):
    from chalicelib.local.pollers import sqs_handlers
    from chalicelib.settings import settings
    from chalicelib.store.aws import client

    name = settings().queue_name(short)
    handler = next(h for q, h, _ in sqs_handlers(app) if q == name)
    sqs = client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return sqs, url, handler


def pump(app, short: str, duplicate: bool = False) -> int:
    """Run one queue's handler until it is empty and nothing is in flight, like the local
    poller (failed records come back after their visibility timeout). With ``duplicate``,
    every batch is handed to the handler twice (SQS at-least-once delivery)."""
    import time

    from chalicelib.local.pollers import run_batch

    sqs, url, handler = _queue(app, short)
    handled = 0
    for _ in range(3000):
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                  AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
        if not got:
            hidden = int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=[
                "ApproximateNumberOfMessagesNotVisible"])["Attributes"][
                "ApproximateNumberOfMessagesNotVisible"])
            if not hidden:
                return handled
            time.sleep(0.3)
            continue
        handled += len(got)
        failed = run_batch(handler, got, "arn:test")
        if duplicate:
            # The same batch again (a redelivery), and every original once more as a new
            # message with a new id (a producer's retry): neither may change any outcome.
            failed |= run_batch(handler, got, "arn:test")
            for m in got:
                if "copy" not in m.get("MessageAttributes", {}):
                    sqs.send_message(QueueUrl=url, MessageBody=m["Body"], MessageAttributes={
                        "copy": {"DataType": "String", "StringValue": "1"}})
        for m in got:
            if m["MessageId"] in failed:
                # Back after a second, like the local poller (and after a 1 s test lease);
                # at once where no lease is involved, to keep the tests quick.
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"],
                                              VisibilityTimeout=1 if short in LEASED else 0)
            else:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    raise AssertionError(f"queue {short} never drained")


def run_pipeline(app, duplicate: bool = False) -> None:
    """Everything behind the queues, until quiet (the events queue feeds engagement)."""
    for _ in range(10):
        moved = sum(pump(app, q, duplicate) for q in ("dispatch", "delivery", "events", "metrics"))
        if not moved:
            return
    raise AssertionError("pipeline never went quiet")


def engagement(api, plan_id: str, customer_id: str, etype: str, suffix: str = "", **extra) -> None:
    event = {"event_id": f"{customer_id}-{etype}-{plan_id}{suffix}", "type": etype,
             "customer_id": customer_id, "occurred_at": iso(datetime.now(UTC)), "plan_id": plan_id,
             **extra}
    r = api.post("/v1/events", {"events": [event]})
    assert r.status_code == 202 and not r.json["rejected"], r.json


class SendLog:
    """What reaches the channel, counted per delivery key at the local chat adapter's
    ``send`` (not in the inbox, where a second send of a key would overwrite the first and
    hide). Each ``worker.deliver_chunk`` call is an attempt: a key sent by an attempt that
    then crashed or lost its claim before recording the chunk is *excused* once, since the
    next attempt cannot know it went out and must send it again (the channel's idempotency
    key covers that re-send). Every other repeat is a duplicate send."""

    def __init__(self, monkeypatch) -> None:
        import threading

        from chalicelib.delivery import channels, worker

        self.sends: Counter[str] = Counter()
        self.excused: Counter[str] = Counter()
        self.outcomes: Counter[str] = Counter()
        self.calls = 0
        self._local = threading.local()
        original_send, original_deliver = channels.LocalChat.send, worker.deliver_chunk
        log = self

        def send(self, messages):
            # Counted as the call is made: whatever happens inside, the channel was asked.
            keys = [m.key for m in messages if not m.test]
            log.calls += 1
            log.sends.update(keys)
            attempt = getattr(log._local, "keys", None)
            if attempt is not None:
                attempt.extend(keys)
            return original_send(self, messages)

        def deliver_chunk(*args, **kwargs):
            self._local.keys = []
            try:
                outcome = original_deliver(*args, **kwargs)
            except BaseException:
                self.excused.update(self._local.keys)
                self.outcomes["raised"] += 1
                raise
            finally:
                keys, self._local.keys = self._local.keys, None
            if outcome == "lost_claim":
                self.excused.update(keys)
            self.outcomes[outcome] += 1
            return outcome

        monkeypatch.setattr(channels.LocalChat, "send", send)
        monkeypatch.setattr(worker, "deliver_chunk", deliver_chunk)

    def per_customer(self, plan_id: str) -> Counter[str]:
        return Counter({key.split("#")[1]: n for key, n in self.sends.items()
                        if key.startswith(plan_id + "#")})

    def duplicates(self) -> dict[str, tuple[int, int]]:
        """Keys sent more often than once plus their excuses: key -> (sends, excuses)."""
        return {k: (n, self.excused[k]) for k, n in self.sends.items()
                if n > 1 + self.excused[k]}


class ScriptedContext:
    """A Lambda context whose clock is the channel: it starts with ``budget_ms`` and every
    channel call costs ``cost_ms`` (a deterministic stand-in for slow sends)."""

    def __init__(self, sends: SendLog, budget_ms: int, cost_ms: int) -> None:
        self.sends, self.start, self.budget_ms, self.cost_ms = sends, sends.calls, budget_ms, cost_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.budget_ms - self.cost_ms * (self.sends.calls - self.start)
