"""Dispatch (DESIGN.md flow 3): a plan's send time has come. Snapshot the audience once,
record the skipped recipients by reason, cut the rest into chunks and put one message
per chunk on the delivery queue.

Crash-safe and idempotent: the snapshot is guarded by a dispatch record in plan_stats
(snapshotting -> ready -> enqueued). No chunk message leaves before the whole snapshot
is written, so a dispatcher that died mid-snapshot is simply redone from scratch; one
that died while enqueueing re-sends every chunk message (workers ignore finished chunks).
A dispatch message for a cancelled, sent or already dispatched plan does nothing (except
finishing a plan whose chunks are all done), so the sweeper (delivery/sweeper.py) may
enqueue one for any plan that looks stuck.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from chalicelib import audiences, metrics
from chalicelib.delivery import engagement, experiments, follow_up, notices
from chalicelib.delivery.chunks import DispatchMessage, send_chunks
from chalicelib.domain import aggregates
from chalicelib.domain import automated as automated_rules
from chalicelib.domain import delivery as rules
from chalicelib.logs import get_logger, log
from chalicelib.settings import settings
from chalicelib.store import customers, deliveries, plan_stats, plans, queues
from chalicelib.store import shop_settings as shop_settings_store

logger = get_logger("delivery.dispatch")


class DispatchBusy(Exception):
    """Another dispatcher holds this plan's snapshot; the message comes back later."""


def enqueue(seller_id: str, plan_id: str) -> None:
    """Send now: the plan (already ``in_progress``) goes to the dispatch queue."""
    queues.send_batch("dispatch", [DispatchMessage(seller_id=seller_id, plan_id=plan_id)
                                   .model_dump()])


def handle_message(body: str, now: datetime) -> None:
    """One record of the dispatch queue."""
    message = DispatchMessage.model_validate_json(body)
    if message.step == experiments.DECIDE:   # an A/B test's timer (delivery/experiments.py)
        experiments.on_timer(message.seller_id, message.plan_id, now)
        return
    dispatch(message.seller_id, message.plan_id, now)


def dispatch(seller_id: str, plan_id: str, now: datetime) -> str:
    """Dispatch one plan; returns what happened (for logs and tests)."""
    now_ms = aggregates.to_ms(now)
    plan = plans.get(seller_id, plan_id)
    if plan is not None and plan.status == "scheduled":
        # The schedule fired: only a plan still scheduled moves on (a cancel wins the race).
        plan = plans.set_status(seller_id, plan_id, {"scheduled"}, "in_progress",
                                dispatched_at=now_ms)
    if plan is None or plan.status != "in_progress":
        log(logger, "dispatch ignored", seller_id=seller_id, plan_id=plan_id,
            status=plan.status if plan else None)
        if plan is not None and plan.kind == notices.KIND:
            notices.finish(seller_id, plan_id, now_ms)   # a cancelled notice's reservation
        return "ignored"
    record = plan_stats.begin_dispatch(seller_id, plan_id, now_ms)
    if record is not None:
        if record.get("state") == "enqueued":
            if len(record.get("done_chunks", ())) >= int(record.get("chunks", 0)) and \
                    experiments.may_finish(plan):
                # Every chunk is done (or there were none) but the plan was left in_progress
                # by a crash before its last status write: finish it now.
                plans.set_status(seller_id, plan_id, {"in_progress"}, "sent", finished_at=now_ms)
                if plan.kind == notices.KIND:
                    notices.finish(seller_id, plan_id, now_ms)
            return "already_dispatched"
        if record.get("state") == "snapshotting":
            lease_ms = settings().delivery_lease_seconds * 1000
            if now_ms - int(record["started_at"]) < lease_ms or not plan_stats.take_over(
                    seller_id, plan_id, int(record["started_at"]), now_ms):
                raise DispatchBusy(plan_id)
    if record is None or record.get("state") == "snapshotting":
        chunk_count = snapshot(plan, now, redo=record is not None)
    else:
        chunk_count = int(record["chunks"])
    numbers = list(range(chunk_count))
    if experiments.is_ab(plan) and chunk_count:
        numbers = experiments.start(plan, now)   # the sample's chunks; the timer armed first
    send_chunks(seller_id, plan_id, numbers)
    plan_stats.set_dispatch_state(seller_id, plan_id, "enqueued")
    if chunk_count == 0:
        plans.set_status(seller_id, plan_id, {"in_progress"}, "sent", finished_at=now_ms)
        if plan.kind == notices.KIND:
            notices.finish(seller_id, plan_id, now_ms)
    log(logger, "plan dispatched", seller_id=seller_id, plan_id=plan_id, chunks=chunk_count)
    return "dispatched"


def recent_sends(seller_id: str, plan_id: str, now_ms: int, per_days: int) -> Counter[str]:
    """Marketing messages each customer got in the cap's window, from finished chunks."""
    since = now_ms - per_days * aggregates.DAY_MS
    return rules.sends_per_customer(
        c.outcomes or [] for c in deliveries.finished_since(seller_id, since)
        if c.kind in rules.MARKETING_KINDS and c.plan_id != plan_id)


def snapshot(plan: plans.PlanItem, now: datetime, redo: bool) -> int:
    """Write the plan's snapshot (skip rows, chunks, figures); returns the chunk count."""
    if plan.kind == notices.KIND:   # one unit per order and channel, not an audience
        eligible, skipped, recipients = notices.snapshot(plan)
        return _write_snapshot(plan, [(None, None, eligible)], skipped, recipients, now, redo)
    eligible, skipped, recipients = eligible_audience(plan, now)
    eligible, held = hold_out(plan, eligible)   # the holdout: a step of its own, before the split
    # ``recipients`` never counts the held-out customers (API.md "Holdout").
    return _write_snapshot(plan, groups(plan, eligible), skipped, recipients - len(held), now,
                           redo, held=held, channel=(plan.channels or ["chat"])[0])


def hold_out(plan: plans.PlanItem, eligible: list[str]) -> tuple[list[str], list[str]]:
    """(messaged, held out): ``holdout_percent`` of the eligible audience, picked by the
    stable hash of plan + customer the automated plans use (domain/automated.held_out)."""
    percent = int((plan.extra or {}).get("holdout_percent") or 0)
    held = {c for c in eligible if automated_rules.held_out(plan.plan_id, c, percent)}
    return [c for c in eligible if c not in held], sorted(held)


def groups(plan: plans.PlanItem, eligible: list[str]) -> list[tuple[str | None, str | None, list[str]]]:
    """The eligible audience as (variant, A/B part, ids) groups, each cut into chunks of its
    own: everyone in one group, or an A/B test's sample per variant then the rest. (Steps
    between eligibility and the split, like a holdout, slot in here, before the split.)"""
    if not experiments.is_ab(plan):
        return [(None, None, eligible)]
    return experiments.groups(plan, eligible)


def sample_sizes(plan: plans.PlanItem, now: datetime) -> dict[str, int]:
    """Each variant's sample if the A/B plan were dispatched now (the check at send)."""
    eligible, _ = hold_out(plan, eligible_audience(plan, now)[0])
    return {variant: len(ids) for variant, part, ids in groups(plan, eligible)
            if part == experiments.SAMPLE}


def eligible_audience(plan: plans.PlanItem, now: datetime) -> tuple[list[str], list[dict], int]:
    """(eligible ids, skipped rows, audience size) of a one-off or follow-up plan now."""
    seller_id, plan_id, now_ms = plan.seller_id, plan.plan_id, aggregates.to_ms(now)
    audience = plan.audience or {}
    original = follow_up.original_of(plan)
    if original:   # a follow-up: fixed now, from the original's deliveries and reads
        ids = sorted(follow_up.non_readers(seller_id, original))
    else:
        ids = audiences.audience_members(seller_id, audience, now)
    items = customers.batch_get(seller_id, ids) if ids else {}
    shop = shop_settings_store.in_force(seller_id)
    marketing = plan.kind in rules.MARKETING_KINDS
    cap = (shop.frequency_cap.max_messages, shop.frequency_cap.per_days) \
        if shop.frequency_cap and marketing else None
    sent_before = recent_sends(seller_id, plan_id, now_ms, cap[1]) if cap else Counter()
    channels = list(plan.channels or ["chat"])
    eligible, skipped = [], []
    for cid, item in items.items():
        reason = rules.skip_reason(rules.recipient_of(cid, item.agg, item.phone), channels,
                                   marketing, sent_before[cid], cap)
        if reason is None:
            eligible.append(cid)
        else:
            skipped.append({"customer_id": cid, "channel": channels[0], "status": rules.SKIPPED,
                            "reason": reason})
    return eligible, skipped, len(items)


def _write_snapshot(plan: plans.PlanItem, parts: list[tuple[str | None, str | None, list[str]]],
                    skipped: list[dict], recipients: int, now: datetime, redo: bool,
                    held: list[str] | None = None, channel: str = "chat") -> int:
    seller_id, plan_id, now_ms = plan.seller_id, plan.plan_id, aggregates.to_ms(now)
    size = settings().delivery_chunk_size
    cut = [(variant, part, ids) for variant, part, group in parts
           for ids in rules.chunked(group, size)]
    eligible = [cid for _, _, group in parts for cid in group]
    # Held-out customers get a skipped row each, in groups like chunks: the row's ``chunk``
    # names its group, whose plan_stats part (``h#<n>``) keeps the holdout's conversions.
    held = held or []
    held_groups = rules.chunked(held, size)
    held_rows = [[{"customer_id": c, "channel": channel, "status": rules.SKIPPED,
                   "reason": "holdout"} for c in group] for group in held_groups]
    if redo:  # an abandoned snapshot: drop what it wrote that this one does not rewrite
        stale_rows = deliveries.row_ids(seller_id, plan_id) - {s["customer_id"] for s in skipped} \
            - set(held)
        deliveries.delete_rows(seller_id, plan_id, stale_rows)
        deliveries.delete_chunks(seller_id, plan_id, [n for n in deliveries.chunk_numbers(
            seller_id, plan_id) if n >= len(cut)])
    deliveries.put_rows(seller_id, plan_id, skipped, chunk=None, sent_at=None)
    for n, rows in enumerate(held_rows):
        deliveries.put_rows(seller_id, plan_id, rows, chunk=n, sent_at=None)
    if held:   # conversions that arrived before these rows were written
        engagement.fold_early_holdout(seller_id, plan_id, {c: n for n, group in
                                                           enumerate(held_groups) for c in group})
    deliveries.put_chunks([deliveries.new_chunk(seller_id, plan_id, plan.kind, n, ids_, variant, part)
                           for n, (variant, part, ids_) in enumerate(cut)])
    reasons = Counter(s["reason"] for s in skipped)
    if held:
        reasons["holdout"] = len(held)
    plan_stats.record_snapshot(seller_id, plan_id, recipients, len(cut), dict(reasons), now_ms,
                               experiments.split_record(parts, cut) if experiments.is_ab(plan) else None)
    # a snapshot redone after a crash counts its skips again
    metrics.outcomes(skipped + [row for rows in held_rows for row in rows])
    log(logger, "audience snapshot", seller_id=seller_id, plan_id=plan_id, recipients=recipients,
        eligible=len(eligible), chunks=len(cut), **{f"skipped_{k}": v for k, v in reasons.items()})
    return len(cut)
