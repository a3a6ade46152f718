"""Event ingestion: validate one by one, de-duplicate by event_id, fold into aggregates.

Exactly-once without a transaction: an event is applied to the customer item by a
version-conditioned write that also records its id in the item's id ring; only then
is the id written to ``events_seen``. A crash between the two leaves the id in the
ring, so a retry finds it there and changes nothing.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from chalicelib import metrics
from chalicelib.api.routing import validation_details
from chalicelib.domain import aggregates
from chalicelib.domain.errors import Invalid, TooLarge
from chalicelib.domain.events import EVENT_ADAPTER, MAX_BATCH, SHOP_EVENT_TYPES, check_timing
from chalicelib.services import reactions
from chalicelib.settings import settings
from chalicelib.store import customers as repo
from chalicelib.store import events as event_store

MAX_RETRIES = 25


def _describe(exc: ValidationError) -> str:
    return "; ".join(f"{d['path'] or 'event'}: {d['message']}" for d in validation_details(exc))


def validate_all(raw: list[Any], now: datetime) -> tuple[list[tuple[int, Any]], list[dict]]:
    valid, rejected = [], []
    for index, data in enumerate(raw):
        try:
            event = EVENT_ADAPTER.validate_python(data)
            check_timing(event.occurred_at, now)
        except ValidationError as exc:
            rejected.append({"index": index, "error": _describe(exc)})
            continue
        except Invalid as exc:
            rejected.append({"index": index, "error": exc.message})
            continue
        valid.append((index, event))
    return valid, rejected


def _apply_to_customer(seller_id: str, customer_id: str, events: list, now_ms: int,
                       item: repo.CustomerItem | None) -> tuple[list, list]:
    """Apply the events not yet in the customer's id ring; returns (applied, recovered):
    recovered ones were applied by an earlier call that stopped before recording them."""
    for attempt in range(MAX_RETRIES):
        if attempt:
            item = repo.get(seller_id, customer_id)
        if item is None:
            item = repo.new_item(seller_id, customer_id, now_ms)
        agg = item.agg or aggregates.empty()
        ring = set(agg["ids"])
        fresh = [e for e in events if e.event_id not in ring]
        recovered = [e for e in events if e.event_id in ring]
        if not fresh:
            return [], recovered
        for event in fresh:
            aggregates.apply(agg, event)
        aggregates.remember_ids(agg, [e.event_id for e in fresh])
        aggregates.prune(agg, now_ms)
        item.agg, item.updated_at = agg, now_ms
        try:
            repo.save(item)
            return fresh, recovered
        except repo.VersionConflict:
            continue
    raise RuntimeError(f"customer {customer_id} kept changing under us")


def ingest(seller_id: str, raw: list[Any], now: datetime) -> dict:
    """POST /v1/events: returns {accepted, duplicates, rejected}."""
    if len(raw) > MAX_BATCH:
        raise TooLarge(f"at most {MAX_BATCH} events per call; got {len(raw)}")
    now_ms = aggregates.to_ms(now)
    valid, rejected = validate_all(raw, now)
    unique: dict[str, Any] = {}
    duplicates = 0
    for _, event in valid:
        if event.event_id in unique:
            duplicates += 1
        else:
            unique[event.event_id] = event
    already = event_store.seen(seller_id, list(unique)) if unique else set()
    duplicates += len(already)
    fresh = [e for eid, e in unique.items() if eid not in already]

    by_customer: dict[str, list] = defaultdict(list)
    shop: list = []
    for event in fresh:
        (shop if event.type in SHOP_EVENT_TYPES else by_customer[event.customer_id]).append(event)

    applied: list = []
    recovered: list = []
    if by_customer:
        items = repo.batch_get(seller_id, list(by_customer))
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = pool.map(lambda cid: _apply_to_customer(
                seller_id, cid, by_customer[cid], now_ms, items.get(cid)), list(by_customer))
            for got, again in results:
                applied.extend(got)
                recovered.extend(again)
    for event in shop:
        data = event.model_dump(mode="json", exclude={"event_id", "type", "occurred_at"})
        if event_store.put_shop_event(seller_id, event.event_id, event.type,
                                      aggregates.to_ms(event.occurred_at), data):
            applied.append(event)
    duplicates += len(fresh) - len(applied)
    metrics.count(metrics.EVENTS_INGESTED, len(applied))
    settled = applied + recovered
    if settled:
        # Reactions first, then the id record: a crash in between re-publishes (subscribers
        # are idempotent) instead of losing the reactions.
        reactions.publish(seller_id, [e.model_dump(mode="json") for e in settled])
        expires = int(now.timestamp()) + settings().event_id_ttl_days * 86400
        event_store.mark_seen(seller_id, [(e.event_id, getattr(e, "customer_id", None))
                                          for e in settled], expires)
    return {"accepted": len(applied), "duplicates": duplicates,
            "rejected": sorted(rejected, key=lambda r: r["index"])}
