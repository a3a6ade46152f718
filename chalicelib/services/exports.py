"""Audience exports (API.md "Overview, segment performance, audience export"; docs/segments.md,
"Audience export"): a segment's members' phones, hashed, as a CSV in the export bucket.

    POST /v1/segments/{id}/exports -> start: the record, then the file inline (at most
        settings.export_inline_members members) or a message on the exports queue
    on_exports                     -> handle_message -> write
    GET /v1/exports/{id}           -> get: status, rows, a presigned URL once ready

``write`` is idempotent: membership is evaluated at the record's ``as_of``, the object's key
is the export's, the object is written once and the record flips to ready once
(store/exports.py), so a duplicate message or a re-run after a crash anywhere in it ends
with the same object, the same rows and one flip.
"""

from __future__ import annotations

import tempfile
import uuid
from datetime import UTC, datetime

from chalicelib import audiences
from chalicelib.domain import exports as rules
from chalicelib.domain.aggregates import to_ms
from chalicelib.domain.errors import NotFound
from chalicelib.logs import get_logger, log
from chalicelib.settings import settings
from chalicelib.store import exports as store
from chalicelib.store import queues

logger = get_logger("exports")


def start(seller_id: str, segment_id: str, fmt: str, now: datetime, actor: str | None) -> dict:
    """Create the export of a segment's members now (NotFound for a segment the seller does
    not have): ready at once when small, else running until the exports queue writes it."""
    if not audiences.segment_exists(seller_id, segment_id):
        raise NotFound(f"segment '{segment_id}' not found")
    # The count first (no ids held): a large segment's members are read by the queue's
    # function, not by the API's smaller one.
    size = audiences.segment_sizes(seller_id, [segment_id], now)[segment_id]
    now_ms = to_ms(now)
    export_id = f"exp_{now_ms:013d}_{uuid.uuid4().hex[:10]}"
    item = store.create(seller_id, export_id, segment_id, fmt,
                        rules.object_key(seller_id, export_id), now_ms, actor)
    if size <= settings().export_inline_members:
        write(item, audiences.segment_members(seller_id, [segment_id], now), now_ms)
        item = store.get(seller_id, export_id) or item
    else:
        # A crash before this send leaves a running record the caller never saw (its POST
        # failed); it expires with the others.
        queues.send_batch("exports", [rules.ExportMessage(seller_id=seller_id,
                                                          export_id=export_id).model_dump()])
    log(logger, "export started", seller_id=seller_id, export_id=export_id,
        segment_id=segment_id, members=size, status=item.status)
    return {"export_id": export_id, "status": item.status,
            "rows": int(item.rows) if item.rows is not None else None}


def handle_message(body: str, now: datetime) -> str:
    """One record of the exports queue; returns what happened (for logs and tests)."""
    message = rules.ExportMessage.model_validate_json(body)
    item = store.get(message.seller_id, message.export_id)
    if item is None or item.status == "ready":
        log(logger, "export message ignored", seller_id=message.seller_id,
            export_id=message.export_id, status=item.status if item else None)
        return "ignored"
    as_of = datetime.fromtimestamp(int(item.as_of) / 1000, UTC)
    try:
        members = audiences.segment_members(item.seller_id, [item.segment_id], as_of)
    except NotFound:
        members = set()    # the segment was deleted since: it has nobody to export
    return write(item, members, to_ms(now))


def write(item: store.ExportItem, members: set[str], now_ms: int) -> str:
    """Write the export's file (unless it is written already) and flip its record to ready.
    Returns "ready" for the call that flipped it, "already_ready" for any other."""
    if item.status == "ready":
        return "already_ready"
    rows = store.written_rows(item.key)
    if rows is None:
        rows = _write_file(item, members)
    flipped = store.mark_ready(item, rows, now_ms)
    log(logger, "export ready" if flipped else "export was ready", seller_id=item.seller_id,
        export_id=item.export_id, rows=rows)
    return "ready" if flipped else "already_ready"


def _write_file(item: store.ExportItem, members: set[str]) -> int:
    """Stream the CSV to a temporary file (one hash a line, in customer id order, so every
    run writes the same bytes for the same members) and put it once; the rows of the object
    that stands."""
    rows = skipped = 0
    with tempfile.TemporaryFile() as out:
        out.write(f"{rules.HEADER}\n".encode())
        for _, phone in store.phones(item.seller_id, sorted(members)):
            if not phone:
                continue
            try:
                out.write(rules.line(phone).encode())
            except ValueError:
                skipped += 1      # not E.164 (stored before normalisation): no usable line
                continue
            rows += 1
        out.seek(0)
        if store.write_once(item.key, out, rows):
            if skipped:
                log(logger, "export skipped phones that are not E.164",
                    seller_id=item.seller_id, export_id=item.export_id, skipped=skipped)
            return rows
    found = store.written_rows(item.key)   # another writer's object stands
    return rows if found is None else found


def get(seller_id: str, export_id: str, now: datetime) -> dict:
    item = store.get(seller_id, export_id)
    if item is None or rules.expired(int(item.created_at), to_ms(now)):
        raise NotFound(f"export '{export_id}' not found")
    ready = item.status == "ready"
    return {"export_id": item.export_id, "segment_id": item.segment_id, "status": item.status,
            "rows": int(item.rows) if item.rows is not None else None,
            "download_url": store.download_url(item.key, rules.URL_SECONDS) if ready else None}
