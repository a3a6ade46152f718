"""SQS pollers that call the same handler functions Lambda calls, with Lambda-shaped events.

A handler's ``batchItemFailures`` are honoured: only the records it names come back (after
a short visibility timeout); a handler that raises fails the whole batch. The queue's redrive
policy moves a message to its DLQ after the fifth receive, as on AWS.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from chalicelib.logs import get_logger, log
from chalicelib.settings import settings
from chalicelib.store.aws import client

logger = get_logger("local.pollers")
RETRY_AFTER_SECONDS = 1


def lambda_event(messages: list[dict], queue_arn: str) -> dict:
    return {"Records": [{
        "messageId": m["MessageId"],
        "receiptHandle": m["ReceiptHandle"],
        "body": m["Body"],
        "attributes": m.get("Attributes", {}),
        "messageAttributes": m.get("MessageAttributes", {}),
        "md5OfBody": m.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": settings().region,
    } for m in messages]}


# The local stage sets no lambda_timeout in .chalice/config.json: Chalice's default.
LOCAL_TIMEOUT_MS = 60_000


class LambdaContext:
    """What Lambda passes a handler: the remaining time counts down from the invocation's
    start, as on AWS (the worker hands work back before it runs out)."""
    function_name = "local"
    memory_limit_in_mb = 128
    invoked_function_arn = "arn:aws:lambda:local:0:function:local"
    aws_request_id = "local"

    def __init__(self, timeout_ms: int = LOCAL_TIMEOUT_MS) -> None:
        self.deadline = time.monotonic() + timeout_ms / 1000

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def run_batch(handler: Any, messages: list[dict], queue_arn: str,
              context: Any = None) -> set[str]:
    """Invoke the handler; returns the message ids that failed."""
    try:
        result = handler(lambda_event(messages, queue_arn), context or LambdaContext())
    except Exception:
        logger.exception("handler raised; the whole batch comes back")
        return {m["MessageId"] for m in messages}
    return {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])}


class Poller(threading.Thread):
    def __init__(self, queue_name: str, handler: Any, batch_size: int,
                 stop: threading.Event) -> None:
        super().__init__(name=f"poller-{queue_name}", daemon=True)
        self.queue_name, self.handler, self.batch_size, self.stop = (
            queue_name, handler, batch_size, stop)

    def run(self) -> None:
        sqs = client("sqs")
        url = sqs.get_queue_url(QueueName=self.queue_name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"]["QueueArn"]
        while not self.stop.is_set():
            try:
                self.poll_once(sqs, url, arn)
            except Exception:
                if not self.stop.is_set():
                    logger.exception("poll failed")
                    self.stop.wait(1)

    def poll_once(self, sqs: Any, url: str, arn: str) -> int:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, self.batch_size),
                                  WaitTimeSeconds=1, AttributeNames=["All"],
                                  MessageAttributeNames=["All"]).get("Messages", [])
        if not got:
            return 0
        failed = run_batch(self.handler, got, arn)
        done = [m for m in got if m["MessageId"] not in failed]
        for start in range(0, len(done), 10):
            sqs.delete_message_batch(QueueUrl=url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                for i, m in enumerate(done[start:start + 10])])
        for m in got:
            if m["MessageId"] in failed:
                sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"],
                                              VisibilityTimeout=RETRY_AFTER_SECONDS)
        if failed:
            log(logger, "batch items failed", queue=self.queue_name, failed=len(failed))
        return len(got)


def sqs_handlers(app: Any) -> list[tuple[str, Any, int]]:
    """(queue name, handler, batch size) of every @app.on_sqs_message."""
    from chalice.app import SQSEventConfig

    return [(src.queue, app.handler_map[src.name], src.batch_size)
            for src in app.event_sources if isinstance(src, SQSEventConfig)]


# ----- the customers table's stream --------------------------------------------------------

TRIMMED = ("TrimmedDataAccessException", "ExpiredIteratorException")


def dynamodb_handlers(app: Any) -> list[tuple[str, Any, int]]:
    """(table name, handler, batch size) of every @app.on_dynamodb_record (app.py names the
    table; on AWS infra/build.py wires its stream)."""
    from chalice.app import DynamoDBEventConfig

    return [(src.stream_arn, app.handler_map[src.name], src.batch_size)
            for src in app.event_sources if isinstance(src, DynamoDBEventConfig)]


class Every(threading.Thread):
    """Calls ``fn()`` every ``seconds`` until ``stop`` (a schedule of app.py, run locally
    more often than on AWS so the local stack catches up within seconds)."""

    def __init__(self, seconds: float, fn: Any, stop: threading.Event, name: str) -> None:
        super().__init__(name=name, daemon=True)
        self.seconds, self.fn, self.stop = seconds, fn, stop

    def run(self) -> None:
        while not self.stop.wait(self.seconds):
            try:
                self.fn()
            except Exception:
                logger.exception("periodic job failed", extra={"fields": {"job": self.name}})


class StreamPoller(threading.Thread):
    """Reads a table's DynamoDB stream (moto's, through the dynamodbstreams API) and calls
    the handler Lambda would call, in order, one batch at a time per shard. A batch whose
    handler raises is retried from its first record (as Lambda does); a position the stream
    trimmed meanwhile (TrimmedDataAccessException, ExpiredIteratorException) calls
    ``on_trimmed`` (the snapshots' full rebuild: their marks cannot be trusted) and goes on
    from the oldest record kept. ``start``: TRIM_HORIZON (everything kept) or LATEST."""

    def __init__(self, table_name: str, handler: Any, batch_size: int,
                 stop: threading.Event | None, on_trimmed: Any = None,
                 start: str = "TRIM_HORIZON") -> None:
        super().__init__(name=f"stream-{table_name}", daemon=True)
        self.table_name, self.handler, self.batch_size, self.stop = (
            table_name, handler, min(batch_size, 1000), stop)
        self.on_trimmed, self.start_at = on_trimmed, start
        self.iterators: dict[str, str] = {}   # shard id -> where its next batch starts
        self.failures = 0
        self.arn: str | None = None

    def run(self) -> None:
        assert self.stop is not None
        while not self.stop.is_set():
            try:
                if not self.poll_once():
                    self.stop.wait(0.2)
            except Exception:
                if not self.stop.is_set():
                    logger.exception("stream poll failed")
                    self.stop.wait(1)

    def shards(self) -> list[str]:
        if self.arn is None:
            self.arn = client("dynamodb").describe_table(TableName=self.table_name)["Table"][
                "LatestStreamArn"]
        got = client("dynamodbstreams").describe_stream(StreamArn=self.arn)["StreamDescription"]
        return [s["ShardId"] for s in got.get("Shards", [])]

    def iterator(self, shard: str) -> str:
        if shard not in self.iterators:
            self.iterators[shard] = client("dynamodbstreams").get_shard_iterator(
                StreamArn=self.arn, ShardId=shard, ShardIteratorType=self.start_at)["ShardIterator"]
        return self.iterators[shard]

    def poll_once(self) -> int:
        """One batch per shard: returns the records handled."""
        from botocore.exceptions import ClientError

        streams = client("dynamodbstreams")
        handled = 0
        for shard in self.shards():
            try:
                got = streams.get_records(ShardIterator=self.iterator(shard), Limit=self.batch_size)
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") not in TRIMMED:
                    raise
                logger.warning("stream position trimmed; the snapshots are rebuilt")
                self.iterators.pop(shard, None)
                self.start_at = "TRIM_HORIZON"
                if self.on_trimmed is not None:
                    self.on_trimmed()
                continue
            records = got.get("Records", [])
            if records:
                event = {"Records": [{**r, "eventSourceARN": self.arn} for r in records]}
                try:
                    self.handler(event, LambdaContext())
                except Exception:
                    self.failures += 1
                    logger.exception("stream handler raised; the batch comes back")
                    continue   # the same iterator again: the batch from its first record
                handled += len(records)
            self.iterators[shard] = got["NextShardIterator"]
        return handled
