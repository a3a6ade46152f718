"""A/B tests of one-off plans in the pipeline (API.md "A/B tests (one-off plans)").

The dispatch snapshot (delivery/dispatch.py) cuts the eligible audience into the sample's
chunks, one variant each, and the rest's chunks, and records the split on the dispatch
record. Only the sample's chunk messages leave; the rest's chunks wait (no delivery rows,
no messages) until the decision. Then:

- **The timer.** Before the sample's chunk messages leave, ``start`` arms the decision:
  an EventBridge Scheduler one-time schedule at dispatch + ``wait_minutes`` whose target is
  the dispatch queue, carrying ``{"step": "decide"}`` (with ``wait_minutes`` 0 the same
  message goes on the queue at once). A decide message decides once the sample's chunks are
  all done, by the metric; before that it does nothing (the sample's last chunk queues the
  decision when it is due, and the sweeper nudges one still pending past its time).
- **Exactly once.** The decision is one conditional write on the plan
  (``plans.record_decision``: still ``in_progress``, no decision yet). Whoever loses (a
  duplicate timer message, the timer against ``POST /winner``) reads the winner that won.
- **The rest.** After the decision, ``release`` puts the rest's chunk messages on the
  delivery queue and marks the dispatch record ``ab_rest_released``. A worker sends a rest
  chunk with the winner's content, and records its recipients with the winner's
  ``variant``; a rest chunk whose message somehow arrives before the decision waits
  (released, nothing sent). Every decide message, duplicate or late, releases again, and
  the chunks' claims make a re-sent chunk message harmless; a crash between the decision
  and the release is mended by the timer (a manual decision leaves it armed until the
  release) and by the stuck-plan sweeper, which queues a decide message for any plan past
  its decision time whose rest is not released.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from chalicelib.delivery import scheduling
from chalicelib.delivery.chunks import DispatchMessage, send_chunks
from chalicelib.domain import aggregates
from chalicelib.domain import experiments as rules
from chalicelib.logs import get_logger, log
from chalicelib.store import deliveries, plan_stats, plans, queues

logger = get_logger("delivery.experiments")

DECIDE = "decide"
SAMPLE, REST = "sample", "rest"
WAITING = "<waiting>"     # a rest chunk before the decision
SWEEP_GRACE_MS = 60_000   # the sweeper nudges a decision this long past its time


def is_ab(plan: plans.PlanItem | None) -> bool:
    return plan is not None and plan.kind == "one_off" and bool((plan.extra or {}).get("variants"))


def variant_ids(plan: plans.PlanItem) -> list[str]:
    return [v["variant_id"] for v in (plan.extra or {}).get("variants") or []]


def settings_of(plan: plans.PlanItem) -> rules.AbTest:
    return rules.AbTest.model_validate((plan.extra or {}).get("ab_test") or {"sample_percent": 1})


# ----- the snapshot ----------------------------------------------------------------------

def groups(plan: plans.PlanItem, eligible: list[str]) -> list[tuple[str | None, str | None, list[str]]]:
    """(variant, part, ids): each variant's sample, then the rest (no variant until decided)."""
    samples, rest = rules.split(plan.plan_id, eligible, settings_of(plan).sample_percent,
                                variant_ids(plan))
    return [*((v, SAMPLE, ids) for v, ids in samples.items()), (None, REST, rest)]


def split_record(parts: list[tuple[str | None, str | None, list[str]]],
                 cut: list[tuple[str | None, str | None, list[str]]]) -> dict[str, Any]:
    """What the dispatch record keeps of the split: the sample's chunks come first."""
    sample = [variant for variant, part, _ in cut if part == SAMPLE]
    return {"ab_sample_chunks": len(sample), "ab_chunk_variants": sample,
            "ab_sizes": {v: len(ids) for v, part, ids in parts if part == SAMPLE},
            "ab_rest": sum(len(ids) for _, part, ids in parts if part == REST)}


def start(plan: plans.PlanItem, now: datetime) -> list[int]:
    """Arm the decision, then the chunks to send now: the sample's (all, once decided)."""
    record = plan_stats.get_part(plan.seller_id, plan.plan_id, plan_stats.DISPATCH) or {}
    sample = int(record.get("ab_sample_chunks", 0))
    # No decision can precede this: POST /winner needs the record ``enqueued`` (set after).
    wait = settings_of(plan).wait_minutes
    # Whole seconds: a schedule's at(...) has no milliseconds and may fire within its second.
    due_ms = (aggregates.to_ms(now + timedelta(minutes=wait)) // 1000) * 1000
    plan_stats.set_dispatch_fields(plan.seller_id, plan.plan_id, ab_decide_at=due_ms)
    if wait == 0:
        enqueue_decide(plan.seller_id, plan.plan_id)
    else:
        scheduling.schedule_decision(plan.seller_id, plan.plan_id, now + timedelta(minutes=wait))
    return list(range(sample))


def enqueue_decide(seller_id: str, plan_id: str, delay_seconds: int = 0) -> None:
    queues.send_batch("dispatch", [DispatchMessage(seller_id=seller_id, plan_id=plan_id,
                                                   step=DECIDE).model_dump()],
                      delay_seconds=delay_seconds)


# ----- the decision ----------------------------------------------------------------------

def _sample_done(record: dict[str, Any]) -> bool:
    done = {int(n) for n in record.get("done_chunks", ())}
    return set(range(int(record.get("ab_sample_chunks", 0)))) <= done


def on_timer(seller_id: str, plan_id: str, now: datetime) -> str:
    """A decide message: decide by the metric once the sample is done; release the rest of a
    plan decided already. Anything else (cancelled, sent, not A/B) does nothing. Only a due
    decision is ever queued (the timer, the sweeper and the sample's last chunk each check
    ``ab_decide_at``), so the message is trusted: a Lambda clock a little behind the
    scheduler's must not drop a timer that fired on time."""
    plan = plans.get(seller_id, plan_id)
    if not is_ab(plan) or plan.status != "in_progress":
        return "ignored"
    record = plan_stats.get_part(seller_id, plan_id, plan_stats.DISPATCH) or {}
    if plan.ab_decision:
        release(plan, now)
        return "released"
    if record.get("state") != "enqueued":
        return "early"      # dispatch has not finished; it arms the timer again when it does
    if not _sample_done(record):
        # Not queued again here (copies of a message that re-queues itself multiply): the
        # sample's last chunk queues the decision when it is done, and the sweeper nudges a
        # decision still pending a minute past its time.
        log(logger, "a/b decision waits for the sample", seller_id=seller_id, plan_id=plan_id)
        return "waiting"
    outcome, _ = decide(seller_id, plan_id, now)
    return outcome


def sample_chunk_done(seller_id: str, plan_id: str, now_ms: int) -> None:
    """A sample chunk is done: when it was the sample's last and the decision is already due
    (``wait_minutes`` 0, or a slow sample), the decide message goes now instead of waiting
    for the timer's recheck. A duplicate costs one more no-op decide message."""
    record = plan_stats.get_part(seller_id, plan_id, plan_stats.DISPATCH) or {}
    if record.get("state") == "enqueued" and not record.get("ab_rest_released") \
            and _sample_done(record) and now_ms >= int(record.get("ab_decide_at", 0)):
        enqueue_decide(seller_id, plan_id)


def sample_counts(seller_id: str, plan_id: str, record: dict[str, Any], metric: str
                  ) -> dict[str, tuple[int, int]]:
    """variant -> (successes, delivered) over the sample: delivered from the chunks'
    recorded outcomes (exact now), successes from the chunks' counters."""
    variants_of = list(record.get("ab_chunk_variants") or [])
    delivered: dict[str, int] = {}
    for chunk in deliveries.get_chunks(seller_id, plan_id, list(range(len(variants_of)))):
        variant = variants_of[int(chunk.chunk)]
        delivered[variant] = delivered.get(variant, 0) + sum(
            1 for o in chunk.outcomes or [] if o["status"] == "delivered")
    counter, successes = rules.METRIC_COUNTER[metric], {}
    for part in plan_stats.all_parts(seller_id, plan_id):
        name = part["part"]
        if name.startswith("c#") and int(name[2:]) < len(variants_of):
            variant = variants_of[int(name[2:])]
            successes[variant] = successes.get(variant, 0) + int(part.get(counter, 0))
    return {v: (min(successes.get(v, 0), n), n) for v, n in delivered.items()}


def decide(seller_id: str, plan_id: str, now: datetime, chosen: str | None = None,
           by: str = "timer") -> tuple[str, plans.PlanItem | None]:
    """Record the decision once (then release the rest); returns (outcome, the plan):
    ``decided`` by this call, ``already`` decided (the rest released again), ``not_sent``
    (the sample is not out yet) or ``ignored`` (not an A/B plan in progress)."""
    now_ms = aggregates.to_ms(now)
    for _ in range(3):
        plan = plans.get(seller_id, plan_id)
        if not is_ab(plan) or plan.status != "in_progress":
            return "ignored", plan
        if plan.ab_decision:
            release(plan, now)
            return "already", plan
        record = plan_stats.get_part(seller_id, plan_id, plan_stats.DISPATCH) or {}
        if record.get("state") != "enqueued":
            return "not_sent", plan
        variants = variant_ids(plan)
        metric = settings_of(plan).metric
        counts = sample_counts(seller_id, plan_id, record, metric)
        decision = {**rules.decide(variants, counts, chosen), "decided_at": now_ms, "by": by,
                    "metric": metric,
                    "counts": {v: list(counts.get(v, (0, 0))) for v in variants}}
        saved = plans.record_decision(seller_id, plan_id, decision)
        if saved is not None:
            log(logger, "a/b test decided", seller_id=seller_id, plan_id=plan_id,
                winner=decision["winner"], by=by, p_value=decision["p_value"])
            release(saved, now)
            return "decided", saved
    return "already", plans.get(seller_id, plan_id)


def release(plan: plans.PlanItem, now: datetime) -> None:
    """The rest's chunk messages (idempotent: workers skip done chunks), then the mark;
    once marked, every message went, and a later release only deletes the timer."""
    seller_id, plan_id = plan.seller_id, plan.plan_id
    record = plan_stats.get_part(seller_id, plan_id, plan_stats.DISPATCH) or {}
    if record.get("state") != "enqueued":
        return
    if record.get("ab_rest_released"):
        scheduling.unschedule_decision(seller_id, plan_id)
        return
    total, sample = int(record.get("chunks", 0)), int(record.get("ab_sample_chunks", 0))
    send_chunks(seller_id, plan_id, list(range(sample, total)))
    plan_stats.set_dispatch_fields(seller_id, plan_id, ab_rest_released=aggregates.to_ms(now))
    scheduling.unschedule_decision(seller_id, plan_id)
    if total == sample and len(record.get("done_chunks", ())) >= total:
        # No rest at all and the sample is done: nothing else will finish the plan.
        plans.set_status(seller_id, plan_id, {"in_progress"}, "sent",
                         finished_at=aggregates.to_ms(now))


def needs_nudge(record: dict[str, Any] | None, now_ms: int) -> bool:
    """For the stuck-plan sweeper: an A/B plan past its decision time whose rest is not
    released (a lost timer, or a crash between the decision and the release)."""
    return bool(record) and "ab_sample_chunks" in record and not record.get("ab_rest_released") \
        and record.get("state") == "enqueued" \
        and now_ms >= int(record.get("ab_decide_at", 0)) + SWEEP_GRACE_MS


def sample_sent(seller_id: str, plan_id: str) -> bool:
    record = plan_stats.get_part(seller_id, plan_id, plan_stats.DISPATCH) or {}
    return record.get("state") == "enqueued"


def after_cancel(seller_id: str, plan_id: str) -> None:
    """A cancelled A/B plan: the timer goes, and the rest's chunks are handed to the workers,
    which record their recipients ``skipped``/``cancelled``."""
    scheduling.unschedule_decision(seller_id, plan_id)
    record = plan_stats.get_part(seller_id, plan_id, plan_stats.DISPATCH) or {}
    if record.get("state") == "enqueued" and "ab_sample_chunks" in record:
        send_chunks(seller_id, plan_id, list(range(int(record["ab_sample_chunks"]),
                                                   int(record.get("chunks", 0)))))


def may_finish(plan: plans.PlanItem) -> bool:
    """An A/B plan is not sent before its decision (the rest is still to go)."""
    return not is_ab(plan) or bool(plan.ab_decision)


# ----- the worker's side -----------------------------------------------------------------

def chunk_variant(chunk: deliveries.ChunkItem, plan: plans.PlanItem | None) -> str | None:
    """The variant a chunk's recipients get: a sample chunk's own, the winner for the rest
    (``WAITING`` before the decision), None outside A/B tests."""
    if chunk.ab == REST:
        winner = (plan.ab_decision or {}).get("winner") if plan is not None else None
        return winner or WAITING
    return chunk.variant


def as_variant(plan: plans.PlanItem, variant_id: str | None) -> plans.PlanItem:
    """The plan as a variant's recipients get it (a detached copy; never saved)."""
    if not variant_id or variant_id == WAITING:
        return plan
    variant = next(v for v in (plan.extra or {}).get("variants") or []
                   if v["variant_id"] == variant_id)
    copy = plans.copy(plan)
    for name, value in rules.effective({}, variant).items():
        setattr(copy, name, list(value or []) if name == "product_ids" else value)
    return copy


def tagged(outcomes: list[dict], variant: str | None) -> list[dict]:
    if not variant or variant == WAITING:
        return outcomes
    return [{**o, "variant": variant} for o in outcomes]


def first_variant(plan: plans.PlanItem) -> plans.PlanItem:
    """What a test send of an A/B plan shows: its first variant."""
    return as_variant(plan, variant_ids(plan)[0]) if is_ab(plan) else plan
