"""The seller's segment catalogue: the 7 built-ins plus custom segments (create, read,
change with optimistic locking, delete). Built-ins are immutable (409)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from chalicelib.audiences import (
    MAX_ID,
    Catalogue,
    display_form,
    segment_sizes,
    stored_form,
    validate_rule,
)
from chalicelib.domain import aggregates, builtins, rules
from chalicelib.domain.aggregates import iso
from chalicelib.domain.errors import Conflict, NotFound, PreconditionFailed
from chalicelib.logs import get_logger, log
from chalicelib.store import segments as store
from chalicelib.store.versioning import retry_on_conflict

logger = get_logger("segments")
BUILTIN_VERSION = 1


def new_segment_id() -> str:
    # The "seg_" prefix keeps custom ids apart from every built-in id.
    return f"seg_{uuid.uuid4().hex[:16]}"


def builtin_view(segment_id: str) -> dict:
    rule = builtins.BUILTIN_RULES[segment_id]
    return {"segment_id": segment_id, "name": builtins.BUILTIN_SEGMENTS[segment_id], "rule": rule,
            "builtin": True, "version": BUILTIN_VERSION, "warnings": [],
            "created_at": None, "updated_at": None}


def custom_view(item: store.SegmentItem, tag_names: dict[str, str]) -> dict:
    return {"segment_id": item.segment_id, "name": item.name,
            "rule": display_form(item.rule, tag_names), "builtin": False,
            "version": int(item.version), "warnings": list(item.warnings or []),
            "created_at": iso(int(item.created_at)), "updated_at": iso(int(item.updated_at))}


def list_all(seller_id: str, offset: int, limit: int, now: datetime) -> tuple[list[dict], int | None]:
    """Built-ins first (catalogue order), then custom segments by id."""
    cat = Catalogue(seller_id)
    names = cat.tag_names() if cat.custom else {}
    views = [builtin_view(s) for s in builtins.BUILTIN_SEGMENTS]
    views += [custom_view(item, names) for _, item in sorted(cat.custom.items())]
    page = views[offset:offset + limit]
    sizes = segment_sizes(seller_id, [v["segment_id"] for v in page], now, cat)
    for view in page:
        view["size"] = sizes[view["segment_id"]]
    return page, (offset + limit if offset + limit < len(views) else None)


def get(seller_id: str, segment_id: str) -> dict:
    if segment_id in builtins.BUILTIN_SEGMENTS:
        return builtin_view(segment_id)
    item = store.get(seller_id, segment_id) if len(segment_id) <= MAX_ID else None
    if item is None:
        raise NotFound(f"segment '{segment_id}' not found")
    return custom_view(item, Catalogue(seller_id).tag_names())


def create(seller_id: str, name: str, rule: dict, now: datetime, user_id: str | None) -> dict:
    cat = Catalogue(seller_id)
    normalised, warnings = validate_rule(seller_id, rule, catalogue=cat)
    now_ms = aggregates.to_ms(now)
    item = store.SegmentItem(seller_id=seller_id, segment_id=new_segment_id(), name=name,
                             rule=stored_form(normalised, cat), refs=sorted(rules.references(normalised)),
                             warnings=warnings, created_at=now_ms, updated_at=now_ms,
                             created_by=user_id)
    store.save(item)
    log(logger, "segment created", seller_id=seller_id, segment_id=item.segment_id)
    return custom_view(item, cat.tag_names())


def _editable(seller_id: str, segment_id: str, expected: int | None, verb: str) -> store.SegmentItem:
    if segment_id in builtins.BUILTIN_SEGMENTS:
        raise Conflict(f"built-in segment '{segment_id}' cannot be {verb}")
    item = store.get(seller_id, segment_id) if len(segment_id) <= MAX_ID else None
    if item is None:
        raise NotFound(f"segment '{segment_id}' not found")
    if expected is not None and expected != int(item.version):
        raise PreconditionFailed(f"version {expected} is stale; current is {int(item.version)}")
    return item


def update(seller_id: str, segment_id: str, changes: dict[str, Any], expected: int | None,
           now: datetime) -> dict:
    """Apply {name?, rule?}; with ``expected`` (If-Match) the write fails with 412 when
    someone else changed the segment first, without it the last writer wins."""

    def attempt(_: int) -> tuple[store.SegmentItem, Catalogue]:
        item = _editable(seller_id, segment_id, expected, "changed")
        cat = Catalogue(seller_id)
        if "name" in changes:
            item.name = changes["name"]
        if "rule" in changes:
            normalised, warnings = validate_rule(seller_id, changes["rule"], editing=segment_id,
                                                 catalogue=cat)
            item.rule = stored_form(normalised, cat)
            item.refs = sorted(rules.references(normalised))
            item.warnings = warnings
        item.updated_at = aggregates.to_ms(now)
        store.save(item)
        return item, cat

    item, cat = retry_on_conflict(attempt, what=f"segment '{segment_id}'", if_match=expected)
    log(logger, "segment changed", seller_id=seller_id, segment_id=segment_id)
    return custom_view(item, cat.tag_names())


def delete(seller_id: str, segment_id: str, expected: int | None) -> None:
    """Delete a custom segment; refused (409) while another segment reuses it."""

    def attempt(_: int) -> None:
        item = _editable(seller_id, segment_id, expected, "deleted")
        users = sorted(s.segment_id for s in store.all_segments(seller_id)
                       if segment_id in (s.refs or []))
        if users:
            raise Conflict(f"segment '{segment_id}' is reused by " + ", ".join(users)
                           + "; change those first",
                           [{"path": "segment_id", "message": f"reused by {u}"} for u in users])
        store.delete(item)

    retry_on_conflict(attempt, what=f"segment '{segment_id}'", if_match=expected)
    log(logger, "segment deleted", seller_id=seller_id, segment_id=segment_id)


def ensure(seller_id: str, segment_id: str, name: str, rule: dict, now: datetime) -> bool:
    """Create a segment with a fixed id unless it exists (the demo shop's samples); True when
    created. Loading twice changes nothing."""
    if store.get(seller_id, segment_id) is not None:
        return False
    cat = Catalogue(seller_id)
    normalised, warnings = validate_rule(seller_id, rule, catalogue=cat)
    now_ms = aggregates.to_ms(now)
    item = store.SegmentItem(seller_id=seller_id, segment_id=segment_id, name=name,
                             rule=stored_form(normalised, cat),
                             refs=sorted(rules.references(normalised)), warnings=warnings,
                             created_at=now_ms, updated_at=now_ms, created_by="demo")
    try:
        store.save(item)
    except store.VersionConflict:   # created meanwhile by another loader
        return False
    return True
