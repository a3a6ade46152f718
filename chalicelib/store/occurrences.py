"""Automated-plan state: occurrences (one message at most each, kept durably until due),
the due-time index the timer sweeps, the registry of a seller's automated plans, the
product-interest index price drops fan out over, and the smart-voucher given-out counts.

An occurrence (key ``seller#plan`` / occurrence key) goes pending -> sent | failed |
skipped. While pending it carries ``due_shard`` and ``due_at``, the keys of the sparse GSI
``by_due``: one Query per shard finds everything due, across sellers. A message is claimed
on the plan's delivery row for the customer (``take``: one conditional write that is also
the cooldown), and an occurrence is finished by one UpdateItem conditioned on it still
being pending at the due time read, so two sweeps that overlap, or a sweep that died half
way, never send one occurrence twice or record it twice.
"""

from __future__ import annotations

import hashlib
import json
from itertools import islice
from typing import Any

from pynamodb.attributes import (
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.store import transact
from chalicelib.store.aws import client
from chalicelib.store.base import BaseModel, get_or_none, landed, meta
from chalicelib.store.deliveries import BATCH_GET, DeliveryRow, batch_put, plan_pk

FANOUT = "live_fanout"    # the kind of a fan-out item (see fanout_pk)
DUE_SHARDS = 4            # spreads the due index's writes; the sweep queries each shard


def due_shard(pk: str, key: str) -> str:
    digest = hashlib.sha256(f"{pk}|{key}".encode()).digest()
    return f"due#{digest[0] % DUE_SHARDS}"


def chunk_number(plan_id: str, key: str) -> int:
    """The message's own counter part (plan_stats ``c#<n>``) and frequency-cap log entry: a
    stable 48-bit number per occurrence, far above any one-off plan's chunk numbers."""
    return int(hashlib.sha256(f"{plan_id}|{key}".encode()).hexdigest()[:12], 16)


class ByDue(GlobalSecondaryIndex):
    """Sparse: only pending occurrences carry ``due_shard``."""

    class Meta:
        index_name = "by_due"
        projection = AllProjection()

    due_shard = UnicodeAttribute(hash_key=True)
    due_at = NumberAttribute(range_key=True)


class OccurrenceItem(BaseModel):
    Meta = meta("occurrences")
    pk = UnicodeAttribute(hash_key=True)            # seller#plan (registry: seller#automated)
    key = UnicodeAttribute(range_key=True)          # occurrence key (registry: plan id)
    seller_id = UnicodeAttribute()
    plan_id = UnicodeAttribute()
    customer_id = UnicodeAttribute(null=True)
    kind = UnicodeAttribute(null=True)              # trigger type
    status = UnicodeAttribute(default="pending")    # pending | sent | failed | skipped
    due_at = NumberAttribute(null=True)             # ms
    due_shard = UnicodeAttribute(null=True)         # present while pending
    data = JSONAttribute(null=True)                 # what the trigger knew: order, cart time, ...
    created_at = NumberAttribute(null=True)
    sent_at = NumberAttribute(null=True)            # the message's time (the first claim's)
    finished_at = NumberAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    outcome = JSONAttribute(null=True)              # {product_ids, voucher}
    by_due = ByDue()


def _table() -> str:
    return OccurrenceItem.Meta.table_name


# ----- occurrences ---------------------------------------------------------------------------

def new_item(seller_id: str, plan_id: str, key: str, customer_id: str, kind: str,
             due_ms: int, data: dict, now_ms: int) -> OccurrenceItem:
    pk = plan_pk(seller_id, plan_id)
    return OccurrenceItem(pk=pk, key=key, seller_id=seller_id, plan_id=plan_id,
                          customer_id=customer_id, kind=kind, status="pending", due_at=due_ms,
                          due_shard=due_shard(pk, key), data=data, created_at=now_ms)


def create_all(items: list[OccurrenceItem]) -> list[bool]:
    """Each occurrence created once (its put conditioned on no item under its key); per item,
    whether it was created now."""
    return transact.write_each([{"Put": {
        "TableName": _table(), "Item": item.serialize(),
        "ConditionExpression": "attribute_not_exists(pk)"}} for item in items])


def upsert_all(items: list[OccurrenceItem], now_ms: int, extend: bool = False) -> list[str]:
    """Create each occurrence once; with ``extend`` a later due time (a newer cart event)
    moves a pending one that is not due yet. Per item: created | extended | kept."""
    out = []
    for item, created in zip(items, create_all(items), strict=True):
        if created:
            out.append("created")
        elif extend and landed(lambda i=item: i.update(
                actions=[OccurrenceItem.due_at.set(i.due_at), OccurrenceItem.data.set(i.data)],
                # Not once it is due: a sweep may be sending it right now.
                condition=(OccurrenceItem.status == "pending")
                & (OccurrenceItem.due_at < i.due_at) & (OccurrenceItem.due_at > now_ms))):
            out.append("extended")
        else:
            out.append("kept")
    return out


def fanout_pk(seller_id: str, plan_id: str) -> str:
    """Fan-outs (a LIVE reminder's audience, sent in chunks when due) live beside the plan's
    occurrences, not among them: they are no message and count in no counter."""
    return f"{plan_pk(seller_id, plan_id)}#fanout"


def upsert_fanout(seller_id: str, plan_id: str, key: str, due_ms: int, data: dict,
                  now_ms: int) -> str:
    """Create the fan-out once (in the due index like an occurrence); created | kept."""
    pk = fanout_pk(seller_id, plan_id)
    item = OccurrenceItem(pk=pk, key=key, seller_id=seller_id, plan_id=plan_id, kind=FANOUT,
                          status="pending", due_at=due_ms, due_shard=due_shard(pk, key),
                          data=data, created_at=now_ms)
    return "created" if landed(lambda: item.save(
        condition=OccurrenceItem.pk.does_not_exist())) else "kept"


def get_fanout(seller_id: str, plan_id: str, key: str) -> OccurrenceItem | None:
    return get_or_none(OccurrenceItem, fanout_pk(seller_id, plan_id), key)


def create_many(seller_id: str, plan_id: str, kind: str, wanted: list[tuple[str, str]],
                due_ms: int, data: dict, now_ms: int) -> list[OccurrenceItem]:
    """Occurrences (key, customer) of one fan-out chunk, each created once; returns them all
    as stored now (those that existed, from a strongly consistent read)."""
    items = [new_item(seller_id, plan_id, key, cid, kind, due_ms, data, now_ms)
             for key, cid in wanted]
    made = create_all(items)
    out = [i for i, m in zip(items, made, strict=True) if m]
    existing = [i.key for i, m in zip(items, made, strict=True) if not m]
    pk = plan_pk(seller_id, plan_id)
    for start in range(0, len(existing), BATCH_GET):
        out.extend(OccurrenceItem.batch_get([(pk, k) for k in existing[start:start + BATCH_GET]],
                                            consistent_read=True))
    return out


def due(shard: int, now_ms: int, limit: int) -> list[OccurrenceItem]:
    """Occurrences due by ``now`` in one shard, oldest first (eventually consistent: the
    claim re-checks everything). ``page_size`` rather than ``limit``: with ``limit`` PynamoDB
    builds the next key from the last item's index keys, which an item finished meanwhile
    may lack (seen with moto's threaded server)."""
    return list(islice(OccurrenceItem.by_due.query(
        f"due#{shard}", OccurrenceItem.due_at <= now_ms, page_size=limit), limit))


def _still_due(item: OccurrenceItem) -> Any:
    """Pending with the due time the sweep read (a newer cart event has not moved it)."""
    return (OccurrenceItem.status == "pending") & (OccurrenceItem.due_at == item.due_at)


def defer(item: OccurrenceItem, until_ms: int) -> bool:
    """Quiet hours: still pending, due at the end of the window."""
    return landed(lambda: item.update(actions=[OccurrenceItem.due_at.set(until_ms)],
                                      condition=_still_due(item)))


def finish(item: OccurrenceItem, status: str, reason: str | None, outcome: dict | None,
           sent_at: int | None, now_ms: int) -> bool:
    return finish_all([(item, status, reason, outcome, sent_at)], now_ms)[0]


def finish_all(done: list[tuple[OccurrenceItem, str, str | None, dict | None, int | None]],
               now_ms: int, claimed: bool = False) -> list[bool]:
    """Record each outcome (item, status, reason, outcome, sent_at) and take the item out of
    the due index; only the first finish of an occurrence lands (each is conditioned on it
    still being pending at the due time read).

    ``claimed``: messages the caller sent (or failed to) under its live claim on the delivery
    row. No other sweep can send them meanwhile, so their finish needs no condition and goes
    25 per BatchWriteItem: the item as read, with the outcome. (A sweep that skipped one of
    them meanwhile, say on the cap its own log entry tipped, is overwritten by the truth:
    it went out.)"""
    if claimed:
        items = []
        for item, status, reason, outcome, sent_at in done:
            item.status, item.finished_at, item.reason = status, now_ms, reason
            item.outcome, item.sent_at, item.due_shard = outcome, sent_at, None
            items.append(item)
        if items:
            batch_put(OccurrenceItem, items)
        return [True] * len(items)
    requests = []
    for item, status, reason, outcome, sent_at in done:
        sets = ["#s = :s", "finished_at = :f"]
        values: dict[str, Any] = {":s": {"S": status}, ":f": {"N": str(now_ms)},
                                  ":p": {"S": "pending"}, ":d": {"N": str(item.due_at)}}
        removes = ["due_shard"]
        if reason:
            sets.append("reason = :r")
            values[":r"] = {"S": reason}
        else:
            removes.append("reason")
        if outcome is not None:
            sets.append("outcome = :o")
            values[":o"] = {"S": json.dumps(outcome)}
        if sent_at is not None:
            sets.append("sent_at = :t")
            values[":t"] = {"N": str(sent_at)}
        requests.append({"Update": {
            "TableName": _table(), "Key": {"pk": {"S": item.pk}, "key": {"S": item.key}},
            "UpdateExpression": f"SET {', '.join(sets)} REMOVE {', '.join(removes)}",
            "ConditionExpression": "#s = :p AND due_at = :d",
            "ExpressionAttributeNames": {"#s": "status"}, "ExpressionAttributeValues": values}})
    return transact.write_each(requests)


def page(seller_id: str, plan_id: str, statuses: list[str], limit: int, after: str | None
         ) -> tuple[list[OccurrenceItem], str | None]:
    """A plan's occurrences in key order whose status is one of ``statuses``."""
    kwargs: dict[str, Any] = {"limit": limit + 1, "consistent_read": True}
    if after:
        kwargs["last_evaluated_key"] = {"pk": {"S": plan_pk(seller_id, plan_id)},
                                        "key": {"S": after}}
    kwargs["filter_condition"] = OccurrenceItem.status.is_in(*statuses)
    out = []
    result = OccurrenceItem.query(plan_pk(seller_id, plan_id), **kwargs)
    for item in result:
        out.append(item)
        if len(out) > limit:
            break
    if len(out) > limit:
        return out[:limit], out[limit - 1].key
    return out, None


def tally(seller_id: str, plan_id: str) -> dict[str, int]:
    """The plan's message counters from its occurrences' statuses (one Query, paged):
    ``triggered`` (every occurrence), ``recipients`` (those that fell due), ``delivered``,
    ``failed`` and ``skipped_<reason>``."""
    ddb = client("dynamodb")
    args: dict[str, Any] = {
        "TableName": _table(), "ConsistentRead": True,
        "KeyConditionExpression": "pk = :pk", "ProjectionExpression": "#s, reason",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":pk": {"S": plan_pk(seller_id, plan_id)}}}
    out: dict[str, int] = {"triggered": 0, "recipients": 0, "delivered": 0, "failed": 0}
    named = {"sent": "delivered", "failed": "failed"}
    while True:
        page = ddb.query(**args)
        for row in page.get("Items", []):
            status = row.get("status", {}).get("S", "pending")
            out["triggered"] += 1
            if status == "pending":
                continue
            out["recipients"] += 1
            name = named.get(status) or f"skipped_{row.get('reason', {}).get('S', 'other')}"
            out[name] = out.get(name, 0) + 1
        if "LastEvaluatedKey" not in page:
            return out
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def measured(seller_id: str, plan_id: str) -> list[tuple[str, int, str]]:
    """(customer_id, due ms, "sent" | "holdout") of every occurrence of the plan that was
    delivered or held out (one Query, paged): what a holdout's conversions are counted over."""
    ddb = client("dynamodb")
    args: dict[str, Any] = {
        "TableName": _table(), "ConsistentRead": True,
        "KeyConditionExpression": "pk = :pk",
        "FilterExpression": "#s = :sent OR (#s = :skipped AND reason = :holdout)",
        "ProjectionExpression": "customer_id, due_at, #s",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {":pk": {"S": plan_pk(seller_id, plan_id)},
                                      ":sent": {"S": "sent"}, ":skipped": {"S": "skipped"},
                                      ":holdout": {"S": "holdout"}}}
    out = []
    while True:
        page = ddb.query(**args)
        for row in page.get("Items", []):
            if "customer_id" in row and "due_at" in row:
                out.append((row["customer_id"]["S"], int(row["due_at"]["N"]),
                            "sent" if row["status"]["S"] == "sent" else "holdout"))
        if "LastEvaluatedKey" not in page:
            return out
        args["ExclusiveStartKey"] = page["LastEvaluatedKey"]


# ----- cooldown: the plan's delivery row per customer ------------------------------------------

def take_all(seller_id: str, plan_id: str, claims: list[tuple[str, str, int, int]],
             lease_until: int, cutoff_ms: int, now_ms: int) -> list[bool]:
    """Claim each customer's message of the plan, ``claims`` (customer, occurrence key,
    chunk, sent_at), until ``lease_until``: the plan's delivery row (plan, customer) names the
    occurrence being (or last) messaged, when, and the claim's lease. Each conditional write
    lands when there is no row, when it names this occurrence and its lease ran out (a sweep
    died: retry), or when it names another occurrence sent before ``cutoff`` (the cooldown
    has passed). So two sweeps never send one occurrence at once, and a customer gets one
    message per cooldown. The same row is what engagement and attribution read (its ``chunk``
    is the occurrence's part)."""
    pk = plan_pk(seller_id, plan_id)
    table = DeliveryRow.Meta.table_name
    # A first message of the plan to the customer (no row yet): one conditional PutItem of
    # the very item the update below would create. The same write unit on AWS; on moto a
    # PutItem is validated in a twentieth of the time of this seven-action UpdateItem, which
    # was the largest cost of an automated message locally (docs/automated-plans.md).
    firsts = transact.write_each([{"Put": {
        "TableName": table,
        "Item": {"pk": {"S": pk}, "customer_id": {"S": customer_id}, "occurrence": {"S": key},
                 "sent_at": {"N": str(sent_at)}, "chunk": {"N": str(chunk)},
                 "channel": {"S": "chat"}, "status": {"S": "delivered"},
                 "lease_until": {"N": str(lease_until)}},
        "ConditionExpression": "attribute_not_exists(pk)"}}
        for customer_id, key, chunk, sent_at in claims])
    # A row exists (a retry, or another occurrence of the customer): the conditional update.
    rest = iter(transact.write_each([{"Update": {
        "TableName": table,
        "Key": {"pk": {"S": pk}, "customer_id": {"S": customer_id}},
        "UpdateExpression": "SET occurrence = :k, sent_at = :t, chunk = :c, channel = :ch, "
                            "#s = :st, lease_until = :l REMOVE reason",
        "ConditionExpression": "attribute_not_exists(pk) "
                               "OR (occurrence = :k AND lease_until < :now) "
                               "OR (occurrence <> :k AND sent_at <= :cut)",
        "ExpressionAttributeNames": {"#s": "status"},
        "ExpressionAttributeValues": {
            ":k": {"S": key}, ":t": {"N": str(sent_at)}, ":c": {"N": str(chunk)},
            ":ch": {"S": "chat"}, ":st": {"S": "delivered"}, ":l": {"N": str(lease_until)},
            ":now": {"N": str(now_ms)}, ":cut": {"N": str(cutoff_ms)}}}}
        for (customer_id, key, chunk, sent_at), first in zip(claims, firsts, strict=True)
        if not first]))
    return [first or next(rest) for first in firsts]


def mark_row_failed(seller_id: str, plan_id: str, customer_id: str, key: str, reason: str) -> None:
    """The reserved message failed at the channel: its row says so (engagement ignores it)."""
    try:
        client("dynamodb").update_item(
            TableName=DeliveryRow.Meta.table_name,
            Key={"pk": {"S": plan_pk(seller_id, plan_id)}, "customer_id": {"S": customer_id}},
            UpdateExpression="SET #s = :f, reason = :r", ConditionExpression="occurrence = :k",
            ExpressionAttributeNames={"#s": "status"},
            ExpressionAttributeValues={":f": {"S": "failed"}, ":r": {"S": reason},
                                       ":k": {"S": key}})
    except client("dynamodb").exceptions.ConditionalCheckFailedException:
        pass


def last_sent(seller_id: str, plan_id: str, customer_ids: list[str]
              ) -> dict[str, tuple[int, str, int]]:
    """customer -> (sent_at, occurrence, lease_until) of the plan's latest claimed message."""
    keys = [{"pk": {"S": plan_pk(seller_id, plan_id)}, "customer_id": {"S": c}}
            for c in dict.fromkeys(customer_ids)]
    out: dict[str, tuple[int, str, int]] = {}
    ddb = client("dynamodb")
    table = DeliveryRow.Meta.table_name
    for start in range(0, len(keys), BATCH_GET):
        request = {table: {"Keys": keys[start:start + BATCH_GET], "ConsistentRead": True}}
        while request:
            got = ddb.batch_get_item(RequestItems=request)
            for row in got.get("Responses", {}).get(table, []):
                if "occurrence" in row and "sent_at" in row:
                    out[row["customer_id"]["S"]] = (int(row["sent_at"]["N"]), row["occurrence"]["S"],
                                                    int(row.get("lease_until", {"N": "0"})["N"]))
            request = got.get("UnprocessedKeys") or None
    return out


# ----- the registry of a seller's automated plans ---------------------------------------------

def registry_pk(seller_id: str) -> str:
    return f"{seller_id}#automated"


def register(seller_id: str, plan_id: str, trigger: dict) -> None:
    OccurrenceItem(pk=registry_pk(seller_id), key=plan_id, seller_id=seller_id, plan_id=plan_id,
                   kind=trigger["type"], status="registered", data=trigger).save()


def unregister(seller_id: str, plan_id: str) -> None:
    OccurrenceItem(pk=registry_pk(seller_id), key=plan_id).delete()


def registered(seller_id: str) -> list[OccurrenceItem]:
    """The seller's automated plans that were started and not cancelled or ended."""
    return list(OccurrenceItem.query(registry_pk(seller_id), consistent_read=True))


# ----- smart vouchers given out -----------------------------------------------------------------

def take_voucher(seller_id: str, voucher_id: str, key: str, quantity: int | None) -> bool:
    """Give one of the voucher out to occurrence ``key``: the count moves once per occurrence
    (a retry finds its key) and never past ``quantity``. False when none is left."""
    ddb = client("dynamodb")
    keyed = {"pk": {"S": f"{seller_id}#voucher"}, "key": {"S": voucher_id}}
    values: dict[str, Any] = {":one": {"N": "1"}, ":k": {"SS": [key]}, ":kk": {"S": key}}
    condition = "attribute_not_exists(given) OR NOT contains(keys_given, :kk)"
    if quantity is not None:
        condition = ("attribute_not_exists(given) OR "
                     "(given < :q AND NOT contains(keys_given, :kk))")
        values[":q"] = {"N": str(quantity)}
    try:
        ddb.update_item(TableName=_table(), Key=keyed,
                        UpdateExpression="ADD given :one, keys_given :k",
                        ConditionExpression=condition, ExpressionAttributeValues=values)
        return True
    except ddb.exceptions.ConditionalCheckFailedException:
        got = ddb.get_item(TableName=_table(), Key=keyed, ConsistentRead=True).get("Item", {})
        return key in set(got.get("keys_given", {}).get("SS", []))


def voucher_given(seller_id: str, voucher_ids: list[str], key: str
                  ) -> dict[str, tuple[int, bool]]:
    """voucher -> (how many were given out in automated messages, whether occurrence ``key``
    holds one of them: a retry keeps the voucher its first attempt took)."""
    ddb = client("dynamodb")
    out = dict.fromkeys(voucher_ids, (0, False))
    for vid in voucher_ids:
        got = ddb.get_item(TableName=_table(), ConsistentRead=True,
                           Key={"pk": {"S": f"{seller_id}#voucher"}, "key": {"S": vid}}).get("Item")
        if got and "given" in got:
            out[vid] = (int(got["given"]["N"]), key in got.get("keys_given", {}).get("SS", []))
    return out


def batch_put_log(items: list[Any]) -> None:
    """Frequency-cap log entries (finished chunk items), 25 per BatchWriteItem."""
    if items:
        batch_put(type(items[0]), items)
