"""What the local stack keeps between runs, piece by piece (chalicelib/local/state.py;
docs/local-stack.md, "Between runs"): values that look like the file format's own tags come
back as they were, a message SQS refuses to take back is sent again or the restore says so,
and a handler finishing during the save can cost a redelivery, never a message. The whole
stack's round trip is tests/e2e/test_local_state_e2e.py.

state.py reads moto's backends for its region, so each stack here lives in a region of its
own (nothing else in the session uses it): one to save from, a fresh one to restore into, as
the next start would. S3 is one namespace for every region in moto, so the buckets, shared
with the other tests, are left out here (the e2e test covers them)."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest

from chalicelib.local import state

TABLE, QUEUE, GROUP = "crm-state-t", "crm-state-q", "crm-state-g"
_regions = iter(r for r in boto3.session.Session().get_available_regions("sqs")
                if r != "us-east-1")


class Stack:
    """One region's table, queue and schedule group, and state.py pointed at it."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.monkeypatch, self.region = monkeypatch, next(_regions)
        self.clients: dict[str, object] = {}
        self.ddb.create_table(TableName=TABLE, BillingMode="PAY_PER_REQUEST",
                              KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
                              AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}])
        self.url = self.sqs.create_queue(QueueName=QUEUE)["QueueUrl"]
        self.client("scheduler").create_schedule_group(Name=GROUP)
        self.use()

    def client(self, service: str):
        if service not in self.clients:
            self.clients[service] = boto3.session.Session().client(service, region_name=self.region)
        return self.clients[service]

    @property
    def ddb(self):
        return self.client("dynamodb")

    @property
    def sqs(self):
        return self.client("sqs")

    def use(self, sqs=None) -> None:
        self.monkeypatch.setattr("chalicelib.local.moto_env.MOTO_REGION", self.region)
        self.monkeypatch.setattr(state, "client",
                                 lambda service: sqs if sqs and service == "sqs" else self.client(service))

    def messages(self) -> list[dict]:
        got = self.sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=10,
                                       MessageAttributeNames=["All"]).get("Messages", [])
        return sorted(({"body": m["Body"], "attributes": m.get("MessageAttributes", {})}
                       for m in got), key=lambda m: m["body"])


@pytest.fixture
def stacks(aws, monkeypatch):
    monkeypatch.setattr(state, "_dump_buckets", lambda into: 0)
    monkeypatch.setattr(state, "_restore_buckets", lambda path: None)
    return lambda: Stack(monkeypatch)


TAG_LIKE = {"pk": {"S": "tags"},
            "looks_b64": {"M": {"$b64": {"S": "not base64 at all"}}},
            "looks_dt": {"M": {"$dt": {"N": "1"}}},
            "looks_map": {"M": {"$map": {"L": [{"S": "a"}]}}},
            "nested": {"M": {"$b64": {"M": {"$dt": {"B": b"\x00\xff"}}}}},
            "two_keys": {"M": {"$b64": {"S": "x"}, "other": {"S": "y"}}},
            "binary": {"B": b"\x00\x01binary"}}


@pytest.mark.parametrize("value", [
    {"$b64": "x"}, {"$dt": "2026-01-01"}, {"$map": [["a", 1]]}, {"$map": {"$map": {}}},
    {"$b64": b"\x00"}, {"$dt": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)},
    {"$b64": "x", "$dt": "y"}, [{"$b64": "x"}, b"\xff", {"$dt": {"$map": 1}}],
    b"plain bytes", datetime(2026, 12, 2, tzinfo=UTC), {"a": [1, "two", None, True]},
])
def test_a_saved_value_reads_back_as_it_was_even_when_it_looks_like_a_tag(value):
    assert state._loads(state._dumps(value)) == value


def test_items_messages_and_schedules_come_back_as_they_were_tag_like_maps_included(
        stacks, tmp_path: Path):
    first = stacks()
    first.ddb.put_item(TableName=TABLE, Item=TAG_LIKE)
    # SQS allows no "$" in an attribute's name: the tag-like maps come from DynamoDB only.
    first.sqs.send_message(QueueUrl=first.url, MessageBody="text", MessageAttributes={
        "kind": {"DataType": "String", "StringValue": "$b64"}})
    first.sqs.send_message(QueueUrl=first.url, MessageBody="binary", MessageAttributes={
        "blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}})
    first.sqs.send_message(QueueUrl=first.url, MessageBody="delayed", DelaySeconds=900)
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(days=1)
    first.client("scheduler").create_schedule(
        Name="later", GroupName=GROUP, ScheduleExpression="at(2030-01-01T00:00:00)",
        FlexibleTimeWindow={"Mode": "OFF"}, StartDate=start,
        Target={"Arn": "arn:aws:sqs:x:1:q", "RoleArn": "arn:aws:iam::1:role/r", "Input": "{}"})
    saved = state.save(tmp_path, {"demo_loaded": False})
    assert json.loads((saved / state.META).read_text())["format"] == state.FORMAT

    second = stacks()
    assert state.restore(tmp_path)["counts"] == {"schedules": 1, "messages": 3, "items": 1,
                                                 "objects": 0}
    assert second.ddb.get_item(TableName=TABLE, Key={"pk": {"S": "tags"}})["Item"] == TAG_LIKE
    assert second.messages() == [
        {"body": "binary", "attributes": {"blob": {"DataType": "Binary", "BinaryValue": b"\x00\x01"}}},
        {"body": "text", "attributes": {"kind": {"DataType": "String", "StringValue": "$b64"}}}]
    delayed = second.sqs.get_queue_attributes(QueueUrl=second.url, AttributeNames=["All"])
    assert delayed["Attributes"]["ApproximateNumberOfMessagesDelayed"] == "1"
    got = second.client("scheduler").get_schedule(Name="later", GroupName=GROUP)
    assert (got["StartDate"], got["ScheduleExpression"]) == (start, "at(2030-01-01T00:00:00)")


def test_a_save_of_format_1_is_still_read_and_an_unknown_format_is_refused(stacks, tmp_path):
    first = stacks()
    first.ddb.put_item(TableName=TABLE, Item={"pk": {"S": "old"}, "b": {"B": b"\x07"},
                                              "m": {"M": {"$map": {"S": "plain in format 1"}}}})
    saved = state.save(tmp_path, {})
    # What format 1 wrote for this item: its "$map" key was no tag then.
    (saved / "dynamodb" / f"{TABLE}.jsonl").write_text(json.dumps(
        {"pk": {"S": "old"}, "b": {"B": {"$b64": base64.b64encode(b"\x07").decode()}},
         "m": {"M": {"$map": {"S": "plain in format 1"}}}}))
    meta = json.loads((saved / state.META).read_text())
    (saved / state.META).write_text(json.dumps({**meta, "format": 1}))
    second = stacks()
    state.restore(tmp_path)
    assert second.ddb.get_item(TableName=TABLE, Key={"pk": {"S": "old"}})["Item"] == {
        "pk": {"S": "old"}, "b": {"B": b"\x07"}, "m": {"M": {"$map": {"S": "plain in format 1"}}}}

    (saved / state.META).write_text(json.dumps({**meta, "format": 99}))
    with pytest.raises(RuntimeError, match="another version.*FRESH=1"):
        state.restore(tmp_path)


class Refusing:
    """An SQS client whose send_message_batch reports the entries ``refuse`` picks as failed
    (without sending them), as SQS does for an entry it could not take."""

    def __init__(self, sqs, refuse) -> None:
        self.sqs, self.refuse, self.sent = sqs, refuse, []

    def __getattr__(self, name):
        return getattr(self.sqs, name)

    def send_message_batch(self, QueueUrl, Entries):  # noqa: N803 (boto3's names)
        self.sent.append([e["Id"] for e in Entries])
        failing = [e for e in Entries if self.refuse(e, len(self.sent))]
        kept = [e for e in Entries if e not in failing]
        got = self.sqs.send_message_batch(QueueUrl=QueueUrl, Entries=kept) if kept else {}
        return {**got, "Failed": [{"Id": e["Id"], "SenderFault": False,
                                   "Code": "InternalError", "Message": "try again"}
                                  for e in failing]}


def _saved_with(stacks, tmp_path, bodies: list[str]) -> None:
    first = stacks()
    for body in bodies:
        first.sqs.send_message(QueueUrl=first.url, MessageBody=body)
    state.save(tmp_path, {})


def test_a_message_sqs_refuses_once_is_sent_again(stacks, tmp_path):
    _saved_with(stacks, tmp_path, ["m0", "m1", "m2"])
    second = stacks()
    refusing = Refusing(second.sqs, lambda entry, call: entry["MessageBody"] == "m1" and call == 1)
    second.use(sqs=refusing)
    state.restore(tmp_path)
    assert [m["body"] for m in second.messages()] == ["m0", "m1", "m2"]
    assert len(refusing.sent) == 2 and len(refusing.sent[0]) == 3 and len(refusing.sent[1]) == 1


def test_a_message_sqs_never_takes_back_stops_the_restore_naming_its_queue(stacks, tmp_path):
    _saved_with(stacks, tmp_path, ["m0", "lost"])
    second = stacks()
    refusing = Refusing(second.sqs, lambda entry, call: entry["MessageBody"] == "lost")
    second.use(sqs=refusing)
    with pytest.raises(RuntimeError, match=f"queue {QUEUE}: 1 saved message.*InternalError"):
        state.restore(tmp_path)
    assert len(refusing.sent) == state.SEND_TRIES
    assert state.saved(tmp_path) is not None   # the save is kept for the next start


def test_a_handler_finishing_during_the_save_costs_a_redelivery_not_its_message(
        stacks, tmp_path, monkeypatch):
    """The handler of message "order-1" writes its effect, then deletes the message, right
    after the first of the queue and table dumps: the save keeps the message (queues are
    dumped first), so the next run redelivers it; the other order would keep neither."""
    first = stacks()
    first.sqs.send_message(QueueUrl=first.url, MessageBody="order-1")
    order: list[str] = []

    def handler_finishes() -> None:
        got = first.sqs.receive_message(QueueUrl=first.url)["Messages"][0]
        first.ddb.put_item(TableName=TABLE, Item={"pk": {"S": "effect-of-order-1"}})
        first.sqs.delete_message(QueueUrl=first.url, ReceiptHandle=got["ReceiptHandle"])

    for part in ("schedules", "queues", "tables"):
        def dump(*args, _real=getattr(state, f"_dump_{part}"), _part=part):
            got = _real(*args)
            order.append(_part)
            if _part in ("queues", "tables") and len(set(order) & {"queues", "tables"}) == 1:
                handler_finishes()
            return got
        monkeypatch.setattr(state, f"_dump_{part}", dump)

    state.save(tmp_path, {})
    assert order == ["schedules", "queues", "tables"]
    second = stacks()
    state.restore(tmp_path)
    assert [m["body"] for m in second.messages()] == ["order-1"]
    assert "Item" in second.ddb.get_item(TableName=TABLE, Key={"pk": {"S": "effect-of-order-1"}})
