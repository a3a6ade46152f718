"""The overview's rollups (docs/overview.md): one table, keyed so a request reads a few
partitions instead of every event.

Items (``pk`` / ``sk``):
- ``seller#day`` / ``YYYY-MM-DD#shard``: a shop-zone day's distinct customers reached,
  read, clicked; attributed orders and GMV placed that day; the shop's paid, unrefunded
  orders and GMV (``shop_orders``, ``shop_gmv``).
- ``seller#sent`` / ``YYYY-MM-DD#plan#shard``: per plan and day its messages went out,
  messages delivered and the orders and GMV attributed to them.
- ``seller#last#metric`` / customer: ``t``, the latest send time (ms) of a message that
  reached the customer (or that they read, clicked, ordered from). The local index
  ``by_time`` (pk, t) counts the customers of a window with one Query.
- ``seller#m#...`` / key: a marker: this fact was counted.
- ``seller#shop#n`` / order id: a paid and/or refunded order (``paid_day``,
  ``paid_amount``, ``refunded``), so a refund takes the order off the day it was paid on.

Every counter moves in one transaction with the conditional write that proves the fact new
(a marker that does not exist yet, an order state it had), so a fact handled twice, or
again after a crash at any point, counts once. A write whose condition fails is simply left
out and the rest retried (``apply``).
"""

from __future__ import annotations

import random
import time
import zlib
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from boto3.dynamodb.types import TypeDeserializer, TypeSerializer
from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.indexes import KeysOnlyProjection, LocalSecondaryIndex

from chalicelib.store.aws import client
from chalicelib.store.base import BaseModel, meta

TX_ITEMS = 100            # DynamoDB's limit of actions per transaction
ATTEMPTS = 12
KEEP_DAYS = 400           # rollups and markers outlive the longest window (365 days)
SHOP_SHARDS = 8
_ser, _de = TypeSerializer(), TypeDeserializer()


class ByTime(LocalSecondaryIndex):
    """The customers of one ``seller#last#metric`` in ``t`` order (keys only)."""

    class Meta:
        index_name = "by_time"
        projection = KeysOnlyProjection()

    pk = UnicodeAttribute(hash_key=True)
    t = NumberAttribute(range_key=True)


class OverviewItem(BaseModel):
    Meta = meta("overview")
    pk = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)
    t = NumberAttribute(null=True)
    expires = TTLAttribute(null=True)    # markers and order states: KEEP_DAYS (rollups stay)
    by_time = ByTime()


def _table() -> str:
    return OverviewItem.Meta.table_name


def day_pk(seller_id: str) -> str:
    return f"{seller_id}#day"


def sent_pk(seller_id: str) -> str:
    return f"{seller_id}#sent"


def last_pk(seller_id: str, metric: str) -> str:
    return f"{seller_id}#last#{metric}"


def marker_pk(seller_id: str, *parts: str) -> str:
    return "#".join((seller_id, "m", *parts))


def shop_order_pk(seller_id: str, order_id: str) -> str:
    return f"{seller_id}#shop#{zlib.crc32(order_id.encode()) % SHOP_SHARDS}"


def expires_at(now_ms: int) -> int:
    return now_ms // 1000 + KEEP_DAYS * 86_400


@dataclass
class Op:
    """One conditional UpdateItem (``sets``: attribute -> value, under ``condition``), and
    what the fact it proves new adds to one rollup item (``target`` key, ``adds``)."""
    key: tuple[str, str]
    condition: str
    sets: dict[str, Any] = field(default_factory=dict)
    target: tuple[str, str] | None = None
    adds: dict[str, Any] = field(default_factory=dict)
    target_sets: dict[str, Any] = field(default_factory=dict)


def marker(key: tuple[str, str], target: tuple[str, str] | None, adds: dict[str, Any],
           now_ms: int, target_sets: dict[str, Any] | None = None) -> Op:
    """A fact counted once: its marker is written only if absent."""
    return Op(key, "attribute_not_exists(pk)", {"expires": expires_at(now_ms)}, target, adds,
              target_sets or {})


def raise_to(key: tuple[str, str], t: int) -> Op:
    """The customer's latest time for a metric becomes ``t`` unless it is later already."""
    return Op(key, "attribute_not_exists(#s0) OR #s0 < :v_t", {"t": t})   # #s0: its one set


def _update(op_key: tuple[str, str], sets: dict[str, Any], adds: dict[str, Any],
            condition: str | None) -> dict[str, Any]:
    names: dict[str, str] = {}
    values: dict[str, Any] = {}
    parts = []
    set_parts = []
    for i, (name, value) in enumerate(sorted(sets.items())):
        names[f"#s{i}"] = name
        values[":v_t" if name == "t" else f":s{i}"] = _ser.serialize(value)
        set_parts.append(f"#s{i} = {':v_t' if name == 't' else f':s{i}'}")
    if set_parts:
        parts.append("SET " + ", ".join(set_parts))
    add_parts = []
    for i, (name, value) in enumerate(sorted(adds.items())):
        names[f"#a{i}"] = name
        values[f":a{i}"] = {"N": str(value)}
        add_parts.append(f"#a{i} :a{i}")
    if add_parts:
        parts.append("ADD " + ", ".join(add_parts))
    update: dict[str, Any] = {"TableName": _table(),
                              "Key": {"pk": {"S": op_key[0]}, "sk": {"S": op_key[1]}},
                              "UpdateExpression": " ".join(parts)}
    if condition:
        update["ConditionExpression"] = condition
    if names:
        update["ExpressionAttributeNames"] = names
    if values:
        update["ExpressionAttributeValues"] = values
    return update


def _transaction(ops: list[Op]) -> list[dict[str, Any]]:
    targets: dict[tuple[str, str], tuple[dict[str, Decimal], dict[str, Any]]] = {}
    for op in ops:
        if op.target is None:
            continue
        adds, sets = targets.setdefault(op.target, ({}, {}))
        for name, value in op.adds.items():
            adds[name] = adds.get(name, Decimal(0)) + Decimal(str(value))
        sets.update(op.target_sets)
    items = [{"Update": _update(op.key, op.sets, {}, op.condition)} for op in ops]
    items += [{"Update": _update(key, sets, {k: v for k, v in adds.items()}, None)}
              for key, (adds, sets) in targets.items() if adds or sets]
    return items


def _chunks(ops: list[Op]) -> list[list[Op]]:
    """Ops packed into transactions of at most ``TX_ITEMS`` actions (ops plus targets)."""
    out: list[list[Op]] = []
    current: list[Op] = []
    targets: set[tuple[str, str]] = set()
    for op in ops:
        extra = 1 + (op.target is not None and op.target not in targets)
        if current and len(current) + len(targets) + extra > TX_ITEMS:
            out.append(current)
            current, targets = [], set()
        current.append(op)
        if op.target is not None:
            targets.add(op.target)
    if current:
        out.append(current)
    return out


_RETRY = frozenset({"None", "TransactionConflict", "ThrottlingError",
                    "ProvisionedThroughputExceeded", "ConditionalCheckFailed"})


def _distinct(ops: list[Op]) -> list[Op]:
    """One op per item (a transaction may name an item once): of two raises of one item the
    later time, of two markers the first."""
    out: dict[tuple[str, str], Op] = {}
    for op in ops:
        seen = out.get(op.key)
        if seen is None or ("t" in op.sets and op.sets["t"] > seen.sets.get("t", op.sets["t"])):
            out[op.key] = op
    return list(out.values())


def apply(ops: list[Op]) -> list[Op]:
    """Write the ops, each with its share of its target's counters, in as few transactions
    as they fit; an op whose condition fails is left out (its fact was counted already, or
    its time is not the latest) and the rest of its transaction retried. Returns the ops
    that landed."""
    ddb = client("dynamodb")
    landed: list[Op] = []
    for batch in _chunks(_distinct(ops)):
        pending = list(batch)
        for attempt in range(ATTEMPTS):
            if not pending:
                break
            try:
                ddb.transact_write_items(TransactItems=_transaction(pending))
                landed.extend(pending)
                pending = []
                break
            except ddb.exceptions.TransactionCanceledException as exc:
                codes = [r.get("Code", "None") for r in
                         exc.response.get("CancellationReasons") or []]
                if not codes or any(c not in _RETRY for c in codes):
                    raise
                failed = {i for i, c in enumerate(codes[:len(pending)])
                          if c == "ConditionalCheckFailed"}
                pending = [op for i, op in enumerate(pending) if i not in failed]
                if not failed:   # a conflict with a concurrent writer: back off, retry
                    time.sleep(min(0.05 * 2 ** attempt, 1.0) * random.random())
        if pending:      # the last attempt may have left out the last ops (counted already)
            raise RuntimeError("overview rollup: too many conflicting transactions")
    return landed


# ----- reads ---------------------------------------------------------------------------

def _plain(item: dict) -> dict[str, Any]:
    return {k: _de.deserialize(v) for k, v in item.items()}


def _query(**args: Any) -> list[dict[str, Any]]:
    ddb = client("dynamodb")
    out: list[dict[str, Any]] = []
    while True:
        page = ddb.query(TableName=_table(), **args)
        out.extend(_plain(i) for i in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return out
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _range(pk: str, first_day: str, last_day: str) -> list[dict[str, Any]]:
    """The items of ``pk`` whose sort key starts with a day from first to last (inclusive)."""
    return _query(ConsistentRead=True,
                  KeyConditionExpression="pk = :pk AND sk BETWEEN :a AND :b",
                  ExpressionAttributeValues={":pk": {"S": pk}, ":a": {"S": first_day},
                                             ":b": {"S": last_day + "#~"}})


def day_rows(seller_id: str, first_day: str, last_day: str) -> list[dict[str, Any]]:
    """The day rollups (every shard) of the days first..last, each with its ``day``."""
    rows = _range(day_pk(seller_id), first_day, last_day)
    for row in rows:
        row["day"] = row["sk"].split("#", 1)[0]
    return rows


def plan_rows(seller_id: str, first_day: str, last_day: str) -> list[dict[str, Any]]:
    """The plan rollups (every shard) of the send days first..last."""
    return _range(sent_pk(seller_id), first_day, last_day)


def count_since(seller_id: str, metric: str, since_ms: int) -> int:
    """How many customers' latest ``metric`` time is at or after ``since_ms`` (one Query
    of the keys-only index, a page per about 1 MB of keys)."""
    ddb = client("dynamodb")
    args: dict[str, Any] = {
        "TableName": _table(), "IndexName": "by_time", "Select": "COUNT", "ConsistentRead": True,
        "KeyConditionExpression": "pk = :pk AND t >= :t",
        "ExpressionAttributeValues": {":pk": {"S": last_pk(seller_id, metric)},
                                      ":t": {"N": str(since_ms)}}}
    total = 0
    while True:
        page = ddb.query(**args)
        total += int(page.get("Count", 0))
        if "LastEvaluatedKey" not in page:
            return total
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def shop_order(seller_id: str, order_id: str) -> dict[str, Any] | None:
    got = client("dynamodb").get_item(
        TableName=_table(), ConsistentRead=True,
        Key={"pk": {"S": shop_order_pk(seller_id, order_id)}, "sk": {"S": order_id}}).get("Item")
    return _plain(got) if got else None
