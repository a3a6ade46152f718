"""Audience exports: one record per export (DynamoDB) and its CSV in the export bucket (S3).
docs/segments.md, "Audience export".

The object is the commit point. It is written once, with ``If-None-Match: *`` (a second
writer, a duplicate message or a re-run after a crash, is refused and takes the first one's
row count from its metadata), and the record flips ``running`` -> ``ready`` with one write
conditioned on ``running``, so it flips once whatever runs twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import partial
from typing import IO

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.domain.exports import EXPIRY_MS
from chalicelib.settings import settings
from chalicelib.store.aws import client, ensure_bucket
from chalicelib.store.base import BaseModel, customer_pk, get_or_none, landed, meta
from chalicelib.store.customers import batch_get_pks

ROWS_METADATA = "rows"        # x-amz-meta-rows: the object's line count, header excluded
BATCH_KEYS = 100              # BatchGetItem's limit
PARALLEL = 16                 # batches read at once: a window of 1,600 members in memory


class ExportItem(BaseModel):
    Meta = meta("exports")
    seller_id = UnicodeAttribute(hash_key=True)
    export_id = UnicodeAttribute(range_key=True)
    segment_id = UnicodeAttribute()
    format = UnicodeAttribute()
    status = UnicodeAttribute()                  # running | ready
    rows = NumberAttribute(null=True)            # set when ready
    key = UnicodeAttribute()                     # the object in the export bucket
    as_of = NumberAttribute()                    # ms: membership is evaluated at this moment
    created_at = NumberAttribute()
    created_by = UnicodeAttribute(null=True)
    ready_at = NumberAttribute(null=True)
    expires = TTLAttribute()                     # with the bucket's lifecycle rule


def create(seller_id: str, export_id: str, segment_id: str, fmt: str, key: str, now_ms: int,
           actor: str | None) -> ExportItem:
    item = ExportItem(seller_id=seller_id, export_id=export_id, segment_id=segment_id,
                      format=fmt, status="running", key=key, as_of=now_ms, created_at=now_ms,
                      created_by=actor,
                      expires=datetime.fromtimestamp((now_ms + EXPIRY_MS) / 1000, UTC))
    item.save(condition=ExportItem.export_id.does_not_exist())
    return item


def get(seller_id: str, export_id: str) -> ExportItem | None:
    return get_or_none(ExportItem, seller_id, export_id)


def mark_ready(item: ExportItem, rows: int, now_ms: int) -> bool:
    """running -> ready with its rows: True for the one write that flipped it."""
    return landed(partial(item.update, actions=[
        ExportItem.status.set("ready"), ExportItem.rows.set(rows),
        ExportItem.ready_at.set(now_ms)], condition=ExportItem.status == "running"))


# ----- the members' phones -------------------------------------------------------------------

def phones(seller_id: str, customer_ids: Iterable[str]) -> Iterator[tuple[str, str | None]]:
    """(customer id, phone or None) of each id, in the order given, read by key (strongly
    consistent, ``customer_id`` and ``phone`` only), ``PARALLEL`` batches at a time: a
    window at a time is held, never the whole audience."""
    ids = iter(customer_ids)

    def read(batch: list[str]) -> dict[str, str | None]:
        got = batch_get_pks([(customer_pk(seller_id, c), c) for c in batch],
                            ["customer_id", "phone"])
        return {item.customer_id: item.phone for item in got}

    with ThreadPoolExecutor(max_workers=PARALLEL) as pool:
        while True:
            window: list[list[str]] = []
            for _ in range(PARALLEL):
                batch = [c for _, c in zip(range(BATCH_KEYS), ids, strict=False)]
                if not batch:
                    break
                window.append(batch)
            if not window:
                return
            for batch, found in zip(window, pool.map(read, window), strict=True):
                for c in batch:
                    yield c, found.get(c)


# ----- objects ---------------------------------------------------------------------------------

def bucket() -> str:
    name = settings().export_bucket
    if not name:
        raise RuntimeError("no export bucket configured (CRM_EXPORT_BUCKET)")
    return name


def create_bucket() -> None:
    """The offline stages' bucket in moto (the template creates it on AWS, with its
    encryption, public access block and lifecycle rule)."""
    ensure_bucket(bucket())


def write_once(key: str, body: IO[bytes], rows: int) -> bool:
    """Put the object unless it exists: True when this call wrote it, False when another
    writer had (its content and rows stand)."""
    try:
        client("s3").put_object(Bucket=bucket(), Key=key, Body=body, IfNoneMatch="*",
                                ContentType="text/csv", Metadata={ROWS_METADATA: str(rows)})
    except Exception as exc:
        if _status(exc) in (409, 412):   # 412: it exists; 409: a concurrent put of it
            return False
        raise
    return True


def written_rows(key: str) -> int | None:
    """The row count of a written object, or None when it is not there."""
    try:
        head = client("s3").head_object(Bucket=bucket(), Key=key)
    except Exception as exc:
        if _status(exc) == 404:
            return None
        raise
    return int(head["Metadata"][ROWS_METADATA])


def read_object(key: str) -> bytes:
    return client("s3").get_object(Bucket=bucket(), Key=key)["Body"].read()


def download_url(key: str, seconds: int) -> str:
    """A presigned GET of the object (it points at the moto server on the local stack)."""
    return client("s3").generate_presigned_url(
        "get_object", Params={"Bucket": bucket(), "Key": key}, ExpiresIn=seconds)


def _status(exc: Exception) -> int | None:
    meta_ = getattr(exc, "response", {}).get("ResponseMetadata", {})
    return meta_.get("HTTPStatusCode")
