"""Plan counters, exact under redelivery.

One partition per plan (``seller#plan``) with parts:
- ``dispatch``: the snapshot record (state, recipients, chunks, skipped_<reason> counts,
  the set of chunk numbers done). Written once per snapshot, so its counts are exact.
- ``c#<chunk>``: the counters of one chunk's recipients (delivered, failed, read, clicked,
  ..., orders, gmv) plus ``applied``: the keys of every fact already folded in. A fact is
  folded by a read-then-UpdateItem conditioned on the part's ``v``, so a fact delivered
  twice adds once. Parting by chunk keeps each ``applied`` set bounded by the chunk size.

Counter names are dynamic, so this module uses the low-level client (PynamoDB declares
the table so the local stack and infra create it).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from pynamodb.attributes import UnicodeAttribute

from chalicelib.store.aws import client
from chalicelib.store.base import BaseModel, meta
from chalicelib.store.deliveries import plan_pk
from chalicelib.store.versioning import VersionConflict, retry_on_conflict

DISPATCH = "dispatch"
# The seller's measured plans (a holdout): ``seller#~measured`` / ``<send ms>#<plan id>``. No
# plan id holds "~" (services/plans.PLAN_ID), so this partition is never a plan's.
MEASURED = "~measured"
_ser, _de = TypeSerializer(), TypeDeserializer()


class PlanStatsItem(BaseModel):
    Meta = meta("plan_stats")
    pk = UnicodeAttribute(hash_key=True)       # seller#plan
    part = UnicodeAttribute(range_key=True)    # dispatch | c#<chunk>


def chunk_part(chunk: int) -> str:
    return f"c#{chunk:06d}"


def holdout_part(group: int) -> str:
    """The counters of one group of a plan's held-out customers (their rows' ``chunk``)."""
    return f"h#{group:06d}"


def _table() -> str:
    return PlanStatsItem.Meta.table_name


def _key(seller_id: str, plan_id: str, part: str) -> dict:
    return {"pk": {"S": plan_pk(seller_id, plan_id)}, "part": {"S": part}}


def _plain(item: dict) -> dict[str, Any]:
    return {k: _de.deserialize(v) for k, v in item.items()}


def get_part(seller_id: str, plan_id: str, part: str) -> dict[str, Any] | None:
    got = client("dynamodb").get_item(TableName=_table(), Key=_key(seller_id, plan_id, part),
                                      ConsistentRead=True).get("Item")
    return _plain(got) if got else None


def all_parts(seller_id: str, plan_id: str) -> list[dict[str, Any]]:
    ddb = client("dynamodb")
    args: dict[str, Any] = {"TableName": _table(), "ConsistentRead": True,
                            "KeyConditionExpression": "pk = :pk",
                            "ExpressionAttributeValues": {":pk": {"S": plan_pk(seller_id, plan_id)}}}
    out = []
    while True:
        page = ddb.query(**args)
        out.extend(_plain(i) for i in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return out
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def begin_dispatch(seller_id: str, plan_id: str, now_ms: int) -> dict[str, Any] | None:
    """Create the dispatch record in state ``snapshotting``; returns None when it was created,
    else the existing record (a retried or duplicate dispatch)."""
    ddb = client("dynamodb")
    item = {**_key(seller_id, plan_id, DISPATCH), "state": {"S": "snapshotting"},
            "started_at": {"N": str(now_ms)}}
    try:
        ddb.put_item(TableName=_table(), Item=item, ConditionExpression="attribute_not_exists(pk)")
        return None
    except ddb.exceptions.ConditionalCheckFailedException:
        return get_part(seller_id, plan_id, DISPATCH)


def take_over(seller_id: str, plan_id: str, old_started: int, now_ms: int) -> bool:
    """Take an abandoned snapshot over (its dispatcher's lease ran out): a conditional write
    on ``started_at``, so of two dispatchers retrying at once only one wins."""
    ddb = client("dynamodb")
    try:
        ddb.update_item(TableName=_table(), Key=_key(seller_id, plan_id, DISPATCH),
                        UpdateExpression="SET started_at = :new",
                        ConditionExpression="started_at = :old",
                        ExpressionAttributeValues={":new": {"N": str(now_ms)},
                                                   ":old": {"N": str(old_started)}})
        return True
    except ddb.exceptions.ConditionalCheckFailedException:
        return False


def record_snapshot(seller_id: str, plan_id: str, recipients: int, chunks: int,
                    skipped: dict[str, int], now_ms: int, extra: dict[str, Any] | None = None
                    ) -> None:
    """The snapshot is written (chunks and skip rows): its figures, state ``ready``
    (``extra``: more fields of the record, e.g. an A/B test's split)."""
    values: dict[str, Any] = {":ready": "ready", ":r": recipients, ":c": chunks, ":t": now_ms}
    sets = ["#state = :ready", "recipients = :r", "chunks = :c", "snapshot_at = :t"]
    names = {"#state": "state"}
    for i, (name, value) in enumerate(sorted((extra or {}).items())):
        names[f"#x{i}"] = name
        values[f":x{i}"] = value
        sets.append(f"#x{i} = :x{i}")
    for i, (reason, n) in enumerate(sorted(skipped.items())):
        names[f"#s{i}"] = f"skipped_{reason}"
        values[f":s{i}"] = n
        sets.append(f"#s{i} = :s{i}")
    client("dynamodb").update_item(
        TableName=_table(), Key=_key(seller_id, plan_id, DISPATCH),
        UpdateExpression="SET " + ", ".join(sets), ExpressionAttributeNames=names,
        ExpressionAttributeValues={k: _ser.serialize(v) for k, v in values.items()})


def set_dispatch_fields(seller_id: str, plan_id: str, **fields: Any) -> None:
    """SET fields of the dispatch record (an A/B test's timer and release marks)."""
    names = {f"#f{i}": name for i, name in enumerate(fields)}
    values = {f":f{i}": _ser.serialize(value) for i, value in enumerate(fields.values())}
    client("dynamodb").update_item(
        TableName=_table(), Key=_key(seller_id, plan_id, DISPATCH),
        UpdateExpression="SET " + ", ".join(f"#f{i} = :f{i}" for i in range(len(fields))),
        ExpressionAttributeNames=names, ExpressionAttributeValues=values)


def set_dispatch_state(seller_id: str, plan_id: str, state: str) -> None:
    client("dynamodb").update_item(
        TableName=_table(), Key=_key(seller_id, plan_id, DISPATCH),
        UpdateExpression="SET #s = :s", ExpressionAttributeNames={"#s": "state"},
        ExpressionAttributeValues={":s": {"S": state}})


def mark_chunk_done(seller_id: str, plan_id: str, chunk: int) -> tuple[int, int]:
    """Add the chunk to the done set (a set add: idempotent); returns (done, total chunks)."""
    got = client("dynamodb").update_item(
        TableName=_table(), Key=_key(seller_id, plan_id, DISPATCH),
        UpdateExpression="ADD done_chunks :c", ExpressionAttributeValues={":c": {"NS": [str(chunk)]}},
        ReturnValues="ALL_NEW")["Attributes"]
    plain = _plain(got)
    return len(plain.get("done_chunks", ())), int(plain.get("chunks", -1))


def apply_facts(seller_id: str, plan_id: str, part: str, facts: dict[str, dict[str, Any]]
                ) -> int:
    """Fold facts (key -> {counter: amount}) into one part, each key at most once ever.
    Read the part, drop keys already applied, then one UpdateItem ADD conditioned on the
    part's version; retried on a concurrent change. Returns how many facts were new."""
    ddb = client("dynamodb")

    def attempt(_: int) -> int:
        current = get_part(seller_id, plan_id, part) or {}
        applied = current.get("applied", set())
        fresh = {k: v for k, v in facts.items() if k not in applied}
        if not fresh:
            return 0
        totals: dict[str, Decimal] = {}
        for adds in fresh.values():
            for name, amount in adds.items():
                totals[name] = totals.get(name, Decimal(0)) + Decimal(str(amount))
        names, values, adds = {}, {":keys": {"SS": sorted(fresh)}, ":one": {"N": "1"}}, []
        for i, (name, amount) in enumerate(sorted(totals.items())):
            names[f"#n{i}"] = name
            values[f":a{i}"] = {"N": str(amount)}
            adds.append(f"#n{i} :a{i}")
        if "v" in current:
            condition, values[":v"] = "v = :v", {"N": str(current["v"])}
        else:
            condition = "attribute_not_exists(v)"
        request: dict[str, Any] = {
            "TableName": _table(), "Key": _key(seller_id, plan_id, part),
            "UpdateExpression": "ADD " + ", ".join([*adds, "applied :keys", "v :one"]),
            "ConditionExpression": condition, "ExpressionAttributeValues": values}
        if names:
            request["ExpressionAttributeNames"] = names
        try:
            ddb.update_item(**request)
        except ddb.exceptions.ConditionalCheckFailedException:
            raise VersionConflict(f"{plan_id}/{part}") from None
        return len(fresh)

    return retry_on_conflict(attempt, what=f"the counters of plan '{plan_id}'")


# ----- measured plans: the one-off plans with a holdout, by send time ----------------------------

def _measured_key(send_ms: int, plan_id: str) -> str:
    return f"{send_ms:013d}#{plan_id}"


def register_measured(seller_id: str, plan_id: str, send_ms: int) -> None:
    """Note a plan with a holdout under its send time, so a paid order finds the plans whose
    conversion window it may fall in with one Query (rewriting it is harmless)."""
    client("dynamodb").put_item(TableName=_table(), Item={
        **_key(seller_id, MEASURED, _measured_key(send_ms, plan_id)),
        "plan_id": {"S": plan_id}, "send_at": {"N": str(send_ms)}})


def measured_between(seller_id: str, since_ms: int, until_ms: int) -> list[tuple[str, int]]:
    """(plan_id, send ms) of the measured plans sent within [since, until], oldest first."""
    ddb = client("dynamodb")
    args: dict[str, Any] = {
        "TableName": _table(), "ConsistentRead": True,
        "KeyConditionExpression": "pk = :pk AND part BETWEEN :lo AND :hi",
        "ExpressionAttributeValues": {
            ":pk": {"S": plan_pk(seller_id, MEASURED)},
            ":lo": {"S": f"{max(since_ms, 0):013d}#"}, ":hi": {"S": f"{until_ms:013d}#~"}}}
    out = []
    while True:
        page = ddb.query(**args)
        out.extend((i["plan_id"]["S"], int(i["send_at"]["N"])) for i in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return out
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]
