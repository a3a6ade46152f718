"""LIVE reminders through the chunked delivery path: a ``live_started`` event creates one
**fan-out** (``store/occurrences.upsert_fanout``, key ``live#<live_id>``), due ``lead_minutes``
before the start, in the same due index as the occurrences. When it is due the sweep
(delivery/timers.py) snapshots the plan's audience segments, cuts the members into chunks
(``domain/delivery.chunked``, ``delivery_chunk_size``) and puts one message per chunk on the
delivery queue, as a one-off dispatch does; the delivery worker hands an automated chunk to
``deliver``, which creates the chunk's occurrences (``live#<live_id>#<customer>``) and sends
them through the timer's own ``fire`` (re-check, claim, send, log, finish).

Exactly once per (live_id, customer) whatever is repeated: a redelivered ``live_started``
finds its fan-out; a sweep that dies after writing some chunks leaves the fan-out pending and
the next sweep cuts and enqueues again (chunks are rewritten with the same numbers, a chunk
message delivered twice finds its occurrences); an occurrence is created once per key and
sent once through the claim on the delivery row. A worker that dies mid-chunk leaves its
occurrences pending in the due index: the chunk's retry, or any sweep, sends the rest.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from chalicelib import audiences
from chalicelib.delivery.chunks import send_chunks
from chalicelib.domain import aggregates
from chalicelib.domain import delivery as delivery_rules
from chalicelib.logs import get_logger, log
from chalicelib.settings import settings
from chalicelib.store import deliveries, occurrences, plans

logger = get_logger("delivery.live_fanout")
KIND = "automated"     # the chunks' kind (the plan's)


def create(plan: plans.PlanItem, live_id: str, starts_ms: int, due_ms: int, now_ms: int) -> str:
    """The trigger's part: one fan-out per (plan, live_id); created | kept."""
    return occurrences.upsert_fanout(plan.seller_id, plan.plan_id, f"live#{live_id}", due_ms,
                                     {"live_id": live_id, "starts_ms": starts_ms}, now_ms)


def chunk_base(plan_id: str, key: str) -> int:
    """The fan-out's chunk numbers start here: a stable 48-bit number per fan-out (one-off
    chunks count from 0, so no plan's numbers meet)."""
    return occurrences.chunk_number(plan_id, f"fanout#{key}")


def start(plan: plans.PlanItem, item: occurrences.OccurrenceItem, now: datetime) -> int:
    """A due fan-out: the audience's members now, cut into chunks and enqueued, then the
    fan-out finished. Returns the number of members."""
    seller_id, plan_id, now_ms = plan.seller_id, plan.plan_id, aggregates.to_ms(now)
    wanted = [s for s in (plan.audience or {}).get("segment_ids") or []
              if audiences.segment_exists(seller_id, s)]
    # The tag filter and exclusions are decided per customer when sent (not_in_audience).
    members = sorted(audiences.segment_members(seller_id, wanted, now)) if wanted else []
    cut = delivery_rules.chunked(members, settings().delivery_chunk_size)
    base = chunk_base(plan_id, item.key)
    numbers = [base + n for n in range(len(cut))]
    deliveries.put_chunks([deliveries.new_chunk(seller_id, plan_id, KIND, number, ids,
                                                origin=item.key)
                           for number, ids in zip(numbers, cut, strict=True)])
    send_chunks(seller_id, plan_id, numbers)
    occurrences.finish(item, "sent", None, {"members": len(members), "chunks": len(cut)},
                       None, now_ms)
    log(logger, "live reminder fanned out", seller_id=seller_id, plan_id=plan_id,
        members=len(members), chunks=len(cut))
    return len(members)


Fire = Callable[[str, str, list, datetime, int], dict]


def deliver(chunk: deliveries.ChunkItem, now: datetime, fire: Fire) -> str:
    """One claimed chunk of a fan-out: its occurrences created once each and the pending
    ones sent by ``fire`` (delivery/timers.fire); then the chunk is done (with no outcomes
    of its own: each message's frequency-cap log entry is the occurrence's)."""
    seller_id, plan_id, now_ms = chunk.seller_id, chunk.plan_id, aggregates.to_ms(now)
    fan = occurrences.get_fanout(seller_id, plan_id, chunk.origin or "")
    if fan is not None:
        data = fan.data or {}
        live_id = data["live_id"]
        items = occurrences.create_many(
            seller_id, plan_id, "live_reminder",
            [(f"live#{live_id}#{cid}", cid) for cid in chunk.recipients], int(fan.due_at),
            {"live_id": live_id, "starts_ms": data["starts_ms"]}, now_ms)
        counts = fire(seller_id, plan_id, [i for i in items if i.status == "pending"], now,
                      settings().delivery_lease_seconds * 1000)
        log(logger, "live reminder chunk", seller_id=seller_id, plan_id=plan_id,
            chunk=int(chunk.chunk), **counts)
    deliveries.finish(chunk, "done", [], now_ms)
    return "delivered" if fan is not None else "missing"
