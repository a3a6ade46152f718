"""Segments: which customers are in a segment now."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from chalicelib.domain import aggregates, builtins
from chalicelib.domain.errors import NotFound
from chalicelib.domain.tags import norm_name
from chalicelib.store import tags as tag_store


def customer_filter(seller_id: str, segment_id: str | None, tag: str | None, now: datetime
                    ) -> Callable | None:
    """A predicate over customer items for GET /v1/customers?segment_id=&tag=, or None."""
    checks: list[Callable] = []
    if segment_id is not None:
        if segment_id not in builtins.BUILTIN_SEGMENTS:
            raise NotFound(f"segment '{segment_id}' not found")
        now_ms = aggregates.to_ms(now)
        checks.append(lambda item: segment_id in builtins.memberships(
            item.agg or aggregates.empty(), now_ms))
    if tag is not None:
        wanted = norm_name(tag)
        ids = {t.tag_id for t in tag_store.all_tags(seller_id) if t.norm == wanted}
        checks.append(lambda item: bool(ids & set(item.tags or ())))
    if not checks:
        return None
    return lambda item: all(check(item) for check in checks)
