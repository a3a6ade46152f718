"""Imports: each accepted import's report, and the rolling-hour rate-limit slots (3 imports
per seller; test sends use them too, 10 per plan)."""

from __future__ import annotations

import json
import zlib
from functools import partial

from pynamodb.attributes import BinaryAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.store.base import BaseModel, get_or_none, landed, meta


class ImportItem(BaseModel):
    Meta = meta("imports")
    seller_id = UnicodeAttribute(hash_key=True)
    import_id = UnicodeAttribute(range_key=True)
    created_at = NumberAttribute()
    created_by = UnicodeAttribute(null=True)
    status = UnicodeAttribute()                       # running | done
    # zlib-compressed JSON: 5,000 error lines would come close to the 400 KB item limit.
    report = BinaryAttribute(legacy_encoding=False, null=True)


class RateSlot(BaseModel):
    """One of N slots per seller and limit; a slot is free once ``until`` has passed, and is
    taken with one conditional put, so concurrent uploads cannot both get the last one."""
    Meta = meta("rate_slots")
    key = UnicodeAttribute(hash_key=True)             # seller#limit#slot
    until = NumberAttribute()                         # ms


def take_slot(seller_id: str, limit: str, slots: int, window_ms: int, now_ms: int) -> int | None:
    """Take a free slot for ``window_ms``: its number, or None when every slot is taken (then
    ``wait_ms`` says when the first frees up)."""
    for slot in range(slots):
        item = RateSlot(key=f"{seller_id}#{limit}#{slot}", until=now_ms + window_ms)
        if landed(partial(item.save,
                          condition=RateSlot.key.does_not_exist() | (RateSlot.until <= now_ms))):
            return slot
    return None


def release_slot(seller_id: str, limit: str, slot: int, until: int) -> None:
    """Give back a slot taken with ``until`` (the work it was taken for did not happen);
    a slot retaken by someone else since is left alone."""
    landed(lambda: RateSlot(key=f"{seller_id}#{limit}#{slot}").delete(
        condition=RateSlot.until == until))


def wait_ms(seller_id: str, limit: str, slots: int, now_ms: int) -> int:
    keys = [f"{seller_id}#{limit}#{s}" for s in range(slots)]
    untils = [int(s.until) for s in RateSlot.batch_get(keys, consistent_read=True)]
    return max(0, min(untils, default=now_ms) - now_ms)


def save_import(seller_id: str, import_id: str, now_ms: int, actor: str, status: str,
                report: dict | None) -> None:
    blob = zlib.compress(json.dumps(report, separators=(",", ":")).encode()) if report else None
    ImportItem(seller_id=seller_id, import_id=import_id, created_at=now_ms, created_by=actor,
               status=status, report=blob).save()


def get_import(seller_id: str, import_id: str) -> tuple[str, dict | None] | None:
    """(status, report) or None."""
    item = get_or_none(ImportItem, seller_id, import_id)
    if item is None:
        return None
    report = json.loads(zlib.decompress(item.report)) if item.report else None
    return item.status, report
