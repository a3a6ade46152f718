"""Delivery state: recipient chunks (the unit of work and of exactly-once claims) and one
delivery row per recipient of a plan's snapshot.

A chunk item holds up to a few hundred recipient ids, a status
(pending -> claimed -> done | cancelled), a lease and, once done, every recipient's
outcome. Claims and records are version-conditioned UpdateItems on the chunk, so the
exactly-once guard costs two writes per chunk instead of one conditional write per
recipient. Delivery rows are written in batches (25 per BatchWriteItem) from the
recorded outcomes; their content is deterministic, so rewriting them is harmless.

Engagement that arrives before its recipient's delivery row (the channel has sent, the
worker has not written the rows yet) is parked as an early fact until the chunk's
follow-up folds it (see ``delivery/engagement.py``).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pynamodb.attributes import (
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex

from chalicelib.store.aws import client
from chalicelib.store.base import BaseModel, get_or_none, landed, meta, sorted_page

EARLY_FACT_DAYS = 30  # outlives a chunk message's 14 days in a DLQ before a redrive
BATCH_WRITE = 25     # the AWS cap per BatchWriteItem (moto accepts more; AWS does not)
BATCH_GET = 100


def plan_pk(seller_id: str, plan_id: str) -> str:
    return f"{seller_id}#{plan_id}"


class BySellerFinished(GlobalSecondaryIndex):
    """Finished chunks of a seller by time: the marketing-send log the frequency cap reads.
    Sparse: a chunk enters it only when ``finished_at`` is set."""

    class Meta:
        index_name = "by_seller_finished"
        projection = AllProjection()

    seller_id = UnicodeAttribute(hash_key=True)
    finished_at = NumberAttribute(range_key=True)


class ChunkItem(BaseModel):
    Meta = meta("delivery_chunks")
    pk = UnicodeAttribute(hash_key=True)            # seller#plan
    chunk = NumberAttribute(range_key=True)
    seller_id = UnicodeAttribute()
    plan_id = UnicodeAttribute()
    kind = UnicodeAttribute()                       # the plan's kind (frequency cap counts marketing)
    recipients = ListAttribute(of=UnicodeAttribute, default=list)
    status = UnicodeAttribute(default="pending")    # pending | claimed | done | cancelled
    lease_until = NumberAttribute(null=True)        # ms; a claim older than this may be taken over
    sent_at = NumberAttribute(null=True)            # ms of the first claim: every retry reuses it
    outcomes = JSONAttribute(null=True)             # [{customer_id, channel, status, reason, ...}]
    progress = JSONAttribute(null=True)             # {key: None | failure}: sent by attempts that handed back
    gen = NumberAttribute(null=True)                # paced hand-backs so far: older messages are stale
    variant = UnicodeAttribute(null=True)           # A/B: the variant of a sample chunk
    ab = UnicodeAttribute(null=True)                # A/B: "sample" | "rest" (sent once decided)
    finished_at = NumberAttribute(null=True)
    origin = UnicodeAttribute(null=True)            # an automated fan-out's key (live#<live_id>)
    version = VersionAttribute()
    by_seller_finished = BySellerFinished()


class DeliveryRow(BaseModel):
    Meta = meta("deliveries")
    pk = UnicodeAttribute(hash_key=True)            # seller#plan
    customer_id = UnicodeAttribute(range_key=True)
    channel = UnicodeAttribute()
    status = UnicodeAttribute()                     # delivered | failed | skipped
    reason = UnicodeAttribute(null=True)
    sent_at = NumberAttribute(null=True)
    chunk = NumberAttribute(null=True)              # where its engagement counters live
    variant = UnicodeAttribute(null=True)
    voucher_code = UnicodeAttribute(null=True)
    order_id = UnicodeAttribute(null=True)          # order notices: the key is order/channel,
    recipient_id = UnicodeAttribute(null=True)      # and the customer is kept here


class EarlyFact(BaseModel):
    """A counter fact whose delivery row did not exist yet when its event was handled."""
    Meta = meta("early_engagement")
    pk = UnicodeAttribute(hash_key=True)            # seller#plan
    key = UnicodeAttribute(range_key=True)          # the fact's key: read:<customer>, order:<order>
    customer_id = UnicodeAttribute()
    add = JSONAttribute()                           # {counter: amount}
    expires = TTLAttribute()
    at = NumberAttribute(null=True)                 # ms it was parked


def batch_put(model: type[BaseModel], items: list[BaseModel]) -> int:
    """Put items 25 per BatchWriteItem, re-sending ``UnprocessedItems`` with backoff (AWS may
    return some under load; moto never does). Returns the number of requests made."""
    ddb = client("dynamodb")
    table = model.Meta.table_name
    requests = 0
    for start in range(0, len(items), BATCH_WRITE):
        pending = [{"PutRequest": {"Item": i.serialize()}} for i in items[start:start + BATCH_WRITE]]
        for attempt in range(10):
            requests += 1
            left = ddb.batch_write_item(RequestItems={table: pending}).get(
                "UnprocessedItems", {}).get(table, [])
            if not left:
                break
            pending = left
            time.sleep(min(2.0, 0.05 * 2 ** attempt))
        else:
            raise RuntimeError(f"DynamoDB kept {len(pending)} items of {table} unprocessed")
    return requests


# ----- chunks --------------------------------------------------------------------------

def new_chunk(seller_id: str, plan_id: str, kind: str, number: int,
              recipients: list[str], variant: str | None = None, ab: str | None = None,
              origin: str | None = None) -> ChunkItem:
    return ChunkItem(pk=plan_pk(seller_id, plan_id), chunk=number, seller_id=seller_id,
                     plan_id=plan_id, kind=kind, recipients=recipients, status="pending",
                     variant=variant, ab=ab, origin=origin)


def put_chunks(chunks: list[ChunkItem]) -> None:
    """Write fresh chunks (a snapshot being (re)written: no chunk of it was sent yet)."""
    for chunk in chunks:
        chunk.version = 1
    batch_put(ChunkItem, chunks)


def get_chunk(seller_id: str, plan_id: str, number: int) -> ChunkItem | None:
    return get_or_none(ChunkItem, plan_pk(seller_id, plan_id), number)


def _guarded_update(chunk: ChunkItem, actions: list[Any]) -> bool:
    """One UpdateItem conditioned on the version read (PynamoDB adds the condition and bumps
    the version); False when someone else changed the chunk since."""
    return landed(lambda: chunk.update(actions=actions))


def claim(chunk: ChunkItem, now_ms: int, lease_ms: int) -> bool:
    """Take the chunk for sending until ``now + lease``. The first claim fixes ``sent_at``."""
    return _guarded_update(chunk, [ChunkItem.status.set("claimed"),
                                   ChunkItem.lease_until.set(now_ms + lease_ms),
                                   ChunkItem.sent_at.set(chunk.sent_at or now_ms)])


def finish(chunk: ChunkItem, status: str, outcomes: list[dict], now_ms: int) -> bool:
    """Record the chunk's outcomes (status done or cancelled) if we still hold its claim."""
    return _guarded_update(chunk, [ChunkItem.status.set(status), ChunkItem.outcomes.set(outcomes),
                                   ChunkItem.finished_at.set(now_ms),
                                   ChunkItem.lease_until.remove(), ChunkItem.progress.remove()])


def hand_back(chunk: ChunkItem, progress: dict[str, str | None], gen: int | None = None) -> bool:
    """Release our claim, keeping what went out (key -> outcome) so the next attempt sends
    only the rest (``gen``: the chunk's new generation, after a paced hand-back); False when
    the claim was no longer ours."""
    actions = [ChunkItem.status.set("pending"), ChunkItem.lease_until.remove()]
    if gen is not None:
        actions.append(ChunkItem.gen.set(gen))
    actions.append(ChunkItem.progress.set(progress) if progress else ChunkItem.progress.remove())
    return _guarded_update(chunk, actions)


def get_chunks(seller_id: str, plan_id: str, numbers: list[int]) -> list[ChunkItem]:
    """Several chunks of one plan (consistent BatchGetItem, 100 keys per call)."""
    keys = [(plan_pk(seller_id, plan_id), n) for n in numbers]
    out: list[ChunkItem] = []
    for start in range(0, len(keys), BATCH_GET):
        out.extend(ChunkItem.batch_get(keys[start:start + BATCH_GET], consistent_read=True))
    return sorted(out, key=lambda c: int(c.chunk))


def chunk_numbers(seller_id: str, plan_id: str) -> list[int]:
    return [int(c.chunk) for c in ChunkItem.query(plan_pk(seller_id, plan_id),
                                                  attributes_to_get=["pk", "chunk"],
                                                  consistent_read=True)]


def delete_chunks(seller_id: str, plan_id: str, numbers: list[int]) -> None:
    with ChunkItem.batch_write() as batch:
        for number in numbers:
            batch.delete(ChunkItem(pk=plan_pk(seller_id, plan_id), chunk=number))


def finished_since(seller_id: str, since_ms: int) -> Iterator[ChunkItem]:
    """Chunks of every plan of the seller finished at or after ``since_ms``."""
    yield from ChunkItem.by_seller_finished.query(
        seller_id, ChunkItem.finished_at >= since_ms)


# ----- delivery rows --------------------------------------------------------------------

def put_rows(seller_id: str, plan_id: str, outcomes: list[dict], chunk: int | None,
             sent_at: int | None) -> None:
    pk = plan_pk(seller_id, plan_id)
    rows = [DeliveryRow(pk=pk, customer_id=o["customer_id"], channel=o["channel"],
                        status=o["status"], reason=o.get("reason"),
                        sent_at=sent_at if o["status"] != "skipped" else None, chunk=chunk,
                        variant=o.get("variant"), voucher_code=o.get("voucher_code"),
                        order_id=o.get("order_id"), recipient_id=o.get("recipient_id"))
            for o in outcomes]
    batch_put(DeliveryRow, rows)


def get_rows(seller_id: str, plan_customer: list[tuple[str, str]]) -> dict[tuple[str, str], DeliveryRow]:
    """(plan_id, customer_id) -> its delivery row, for those that exist."""
    keys = [(plan_pk(seller_id, p), c) for p, c in dict.fromkeys(plan_customer)]
    prefix = len(seller_id) + 1
    out = {}
    for start in range(0, len(keys), BATCH_GET):
        for row in DeliveryRow.batch_get(keys[start:start + BATCH_GET], consistent_read=True):
            out[(row.pk[prefix:], row.customer_id)] = row
    return out


def rows_page(seller_id: str, plan_id: str, status: str | None, limit: int,
              after: str | None) -> tuple[list[DeliveryRow], str | None]:
    """Rows in customer id order, optionally of one status; returns the id to continue after."""
    return sorted_page(DeliveryRow, plan_pk(seller_id, plan_id), limit, after,
                       filter_condition=DeliveryRow.status == status if status else None)


def row_ids(seller_id: str, plan_id: str) -> set[str]:
    return {r.customer_id for r in DeliveryRow.query(plan_pk(seller_id, plan_id),
                                                     attributes_to_get=["pk", "customer_id"],
                                                     consistent_read=True)}


def delivered_ids(seller_id: str, plan_id: str) -> set[str]:
    """The customers a plan delivered to (a follow-up's starting audience)."""
    return {r.customer_id for r in DeliveryRow.query(
        plan_pk(seller_id, plan_id), filter_condition=DeliveryRow.status == "delivered",
        attributes_to_get=["pk", "customer_id", "status"], consistent_read=True)}


def delete_rows(seller_id: str, plan_id: str, customer_ids: set[str]) -> None:
    with DeliveryRow.batch_write() as batch:
        for cid in customer_ids:
            batch.delete(DeliveryRow(pk=plan_pk(seller_id, plan_id), customer_id=cid))


# ----- early engagement ------------------------------------------------------------------

def park(seller_id: str, facts: list[tuple[str, str, str, dict]], now_ms: int) -> None:
    """Park (plan_id, customer_id, key, add) facts until their delivery rows land. Rewriting
    one is harmless: its key is what makes it count once."""
    expires = datetime.fromtimestamp(now_ms / 1000, UTC) + timedelta(days=EARLY_FACT_DAYS)
    batch_put(EarlyFact, [EarlyFact(pk=plan_pk(seller_id, plan_id), key=key, customer_id=cid,
                                    add=add, expires=expires, at=now_ms)
                          for plan_id, cid, key, add in facts])


def parked(seller_id: str, plan_id: str) -> list[EarlyFact]:
    """Every early fact of the plan (usually none: one empty Query)."""
    return list(EarlyFact.query(plan_pk(seller_id, plan_id), consistent_read=True))


def unpark(items: list[EarlyFact]) -> None:
    with EarlyFact.batch_write() as batch:
        for item in items:
            batch.delete(item)
