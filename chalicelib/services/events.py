"""Event ingestion: validate one by one, de-duplicate by event_id, fold into aggregates.

Exactly-once without a transaction, for any batch size (docs/ingestion.md): an event
counts when the version-conditioned write of its customer item commits, and that write
lists the event's id among the item's pending ids (``agg["ids"]``). Then the event is
published to the events queue and its id marked in ``events_seen``. An id leaves the
pending list only in a later write whose writer saw its mark or wrote one first, so an
applied event is always pending on its customer or marked; the marks are read after the
item, and a retry after a crash at any point applies nothing twice and publishes what
the crashed call did not.
"""

from __future__ import annotations

from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from chalicelib import metrics
from chalicelib.domain import aggregates
from chalicelib.domain.errors import Invalid, TooLarge, validation_details
from chalicelib.domain.events import EVENT_ADAPTER, MAX_BATCH, SHOP_EVENT_TYPES, check_timing
from chalicelib.services import reactions
from chalicelib.settings import settings
from chalicelib.store import customers as repo
from chalicelib.store import events as event_store
from chalicelib.store import orders as order_store
from chalicelib.store import queues
from chalicelib.store.versioning import retry_on_conflict

INGEST_ATTEMPTS = 30


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


def _write_once(seller_id: str, customer_id: str, events: list, now_ms: int, expires: int,
                item: repo.CustomerItem | None, marks: dict[str, bool] | None
                ) -> tuple[list, list, list]:
    """One conditional write of the customer: (applied, recovered, done). ``recovered`` were
    applied by an earlier call that stopped before publishing or marking them; ``done``
    were applied and published. Raises VersionConflict when the item moved on."""
    if item is None:
        item = repo.new_item(seller_id, customer_id, now_ms)
    agg = aggregates.upgrade(item.agg or aggregates.empty())
    pending = set(agg["ids"])
    mine = {e.event_id for e in events}
    others = [i for i in agg["ids"] if i not in mine]
    if marks is None:                       # read after the item, never before
        marks = event_store.marks(seller_id, [*mine, *others])
    done = [e for e in events if marks.get(e.event_id) is True]
    recovered = [e for e in events if marks.get(e.event_id) is False
                 or (e.event_id not in marks and e.event_id in pending)]
    fresh = [e for e in events if e.event_id not in marks and e.event_id not in pending]
    if not fresh:
        return [], recovered, done
    # Ids of earlier calls leave the pending list below: mark the ones not marked yet (as
    # not known to be published, so their own retry still publishes them).
    unmarked = [i for i in others if i not in marks]
    if unmarked:
        event_store.mark_seen(seller_id, [(i, customer_id) for i in unmarked], expires,
                              published=False)
    for event in fresh:
        aggregates.apply(agg, event)
    agg["ids"] = [e.event_id for e in fresh] + [e.event_id for e in recovered
                                                if e.event_id not in marks]
    aggregates.prune(agg, now_ms)
    item.agg, item.updated_at = agg, now_ms
    repo.save(item)
    return fresh, recovered, done


def _apply_to_customer(seller_id: str, customer_id: str, events: list, now_ms: int,
                       expires: int, item: repo.CustomerItem | None,
                       marks: dict[str, bool]) -> tuple[list, list, list]:
    def attempt(n: int) -> tuple[list, list, list]:
        if n == 0:
            return _write_once(seller_id, customer_id, events, now_ms, expires, item, marks)
        return _write_once(seller_id, customer_id, events, now_ms, expires,
                           repo.get(seller_id, customer_id), None)

    # Ingestion is the hottest writer of one customer (a burst of calls for one buyer, each
    # read-modify-write): more rounds than the default before a 409, so eight concurrent
    # callers on one customer all land on a loaded machine (each round one of them wins).
    return retry_on_conflict(attempt, what=f"customer '{customer_id}'", attempts=INGEST_ATTEMPTS)


def ingest(seller_id: str, raw: list[Any], now: datetime) -> dict:
    """POST /v1/events: returns {accepted, duplicates, rejected}."""
    if len(raw) > MAX_BATCH:
        raise TooLarge(f"at most {MAX_BATCH} events per call; got {len(raw)}")
    now_ms = aggregates.to_ms(now)
    expires = int(now.timestamp()) + settings().event_id_ttl_days * 86400
    valid, rejected = validate_all(raw, now)
    unique: dict[str, Any] = {}
    dumped: dict[str, dict] = {}
    duplicates = 0
    for index, event in valid:
        if event.event_id in unique:
            duplicates += 1
            continue
        body = event.model_dump(mode="json")
        if not reactions.publishable(seller_id, body):
            rejected.append({"index": index, "error": "event too large to publish "
                             f"(over {queues.MAX_MESSAGE_BYTES} bytes)"})
            continue
        unique[event.event_id], dumped[event.event_id] = event, body

    by_customer: dict[str, list] = defaultdict(list)
    shop: list = []
    for event in unique.values():
        (shop if event.type in SHOP_EVENT_TYPES else by_customer[event.customer_id]).append(event)
    items = repo.batch_get(seller_id, list(by_customer)) if by_customer else {}
    others = [i for item in items.values() for i in (item.agg or {}).get("ids", [])
              if i not in unique]
    marks = event_store.marks(seller_id, [*unique, *others]) if unique else {}

    applied: list = []
    recovered: list = []
    if by_customer:
        with ThreadPoolExecutor(max_workers=8) as pool:
            results = pool.map(lambda cid: _apply_to_customer(
                seller_id, cid, by_customer[cid], now_ms, expires, items.get(cid), marks),
                list(by_customer))
            for got, again, done in results:
                applied.extend(got)
                recovered.extend(again)
                duplicates += len(done)
    for event in shop:
        if marks.get(event.event_id) is True:
            duplicates += 1
            continue
        data = event.model_dump(mode="json", exclude={"event_id", "type", "occurred_at"})
        if event_store.put_shop_event(seller_id, event.event_id, event.type,
                                      aggregates.to_ms(event.occurred_at), data):
            applied.append(event)
        else:                  # stored by a call that stopped before publishing it
            recovered.append(event)
    duplicates += len(recovered)
    metrics.count(metrics.EVENTS_INGESTED, len(applied))
    settled = applied + recovered
    if settled:
        # Who paid each order (order notices look orders up by id), before the events count
        # as handled: a retry of a call that crashed here writes them again.
        order_store.record_paid(seller_id, [(e.order_id, e.customer_id, aggregates.to_ms(e.occurred_at))
                                            for e in settled if e.type == "order_paid"])
        # Reactions first, then the marks: a crash in between re-publishes (subscribers
        # are idempotent) instead of losing the reactions.
        reactions.publish(seller_id, [dumped[e.event_id] for e in settled])
        event_store.mark_seen(seller_id, [(e.event_id, getattr(e, "customer_id", None))
                                          for e in settled], expires)
    return {"accepted": len(applied), "duplicates": duplicates,
            "rejected": sorted(rejected, key=lambda r: r["index"])}
