"""Delivery worker (DESIGN.md flow 4): one chunk of recipients per message.

Exactly once per recipient, whatever retries, duplicates or crashes:
1. read the chunk; a finished one only has its (idempotent) follow-up redone;
2. claim it: one UpdateItem conditioned on the version read, with a lease; a live claim
   held by another worker sends the message back to the queue;
3. read the plan: a cancelled plan sends nothing (the chunk is recorded as skipped);
4. render and send through the channel with the delivery key as idempotency key;
5. record every outcome on the chunk, conditioned on still holding the claim;
6. follow-up: delivery rows, then the engagement parked before they existed, a metrics
   fact keyed by the chunk, the plan's done set.
A crash between 4 and 5 leaves a claim that expires; the next attempt re-sends with the
same keys and the channel recognises them, so the customer still gets one message.

Lambda time: the worker sends in slices (one channel call each) and, before each slice,
checks the invocation's remaining time (``Deadline``). Short of a worst-case slice plus the
time to record, it stops and hands the rest back: what went out is stored on the chunk as
``progress`` (key -> outcome) with the claim released, and a fresh message for the chunk
goes to the queue (records of the batch not yet started go back the same way). The next
attempt sends only the keys not in ``progress``. The lease (settings) outlives the function
timeout, so no claim expires under a worker that is still running
(tests/unit/test_delivery_timing.py derives both from config).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib import metrics
from chalicelib.delivery import channels as chans
from chalicelib.delivery import (
    engagement,
    experiments,
    live_fanout,
    notices,
    pacing,
    rollups,
    timers,
)
from chalicelib.delivery.chunks import ChunkMessage, Fact, send_chunks, send_facts
from chalicelib.domain import aggregates, families
from chalicelib.domain import delivery as rules
from chalicelib.domain.aggregates import iso
from chalicelib.domain.errors import NotFound
from chalicelib.domain.templates import render, resolve_content
from chalicelib.logs import get_logger, log
from chalicelib.settings import settings
from chalicelib.store import customers, deliveries, plan_stats, plans
from chalicelib.store import products as product_store
from chalicelib.store import secrets as secrets_store
from chalicelib.store import shop_settings as shop_settings_store
from chalicelib.store import vouchers as voucher_store

logger = get_logger("delivery.worker")

# Kept in hand after the last slice: recording the chunk (one UpdateItem), its rows and facts.
RECORD_RESERVE_MS = 5_000


class ChunkBusy(Exception):
    """Another worker holds a live claim on the chunk (or just changed it): retry later."""


class Deadline:
    """The invocation's remaining time (Lambda's ``context.get_remaining_time_in_millis``),
    and the margin a worker keeps: the slowest slice (one message over HTTP, at most the
    messaging timeout) plus ``RECORD_RESERVE_MS``. ``worked`` turns true once this
    invocation sent something, so an invocation always makes progress before handing back."""

    def __init__(self, remaining_ms: Callable[[], int] | None, margin_ms: int | None = None) -> None:
        self.remaining_ms = remaining_ms
        self.margin_ms = margin_ms if margin_ms is not None else margin()
        self.worked = False

    @classmethod
    def of(cls, context: Any) -> Deadline:
        remaining = getattr(context, "get_remaining_time_in_millis", None)
        return cls(remaining if callable(remaining) else None)

    def should_stop(self) -> bool:
        """True when the time left is under the margin (and something was done already)."""
        return (self.worked and self.remaining_ms is not None
                and self.remaining_ms() < self.margin_ms)


def margin() -> int:
    return int(settings().messaging_timeout_seconds * 1000) + RECORD_RESERVE_MS


def for_invocation(context: Any) -> Callable[[str, datetime], None]:
    """The record handler of one Lambda invocation of the delivery queue: every record of
    the batch shares the invocation's deadline."""
    deadline = Deadline.of(context)
    return lambda body, now: handle_message(body, now, deadline)


def handle_message(body: str, now: datetime, deadline: Deadline | None = None) -> None:
    """One record of the delivery queue."""
    message = ChunkMessage.model_validate_json(body)
    if deadline is not None and deadline.should_stop():
        # Not started and no time left: back on the queue as a new message (no receive of
        # this one is spent, so a busy invocation never pushes work towards the DLQ).
        send_chunks(message.seller_id, message.plan_id, [message.chunk], gen=message.gen)
        log(logger, "chunk handed back unstarted", seller_id=message.seller_id,
            plan_id=message.plan_id, chunk=message.chunk)
        return
    deliver_chunk(message.seller_id, message.plan_id, message.chunk, now, deadline, message.gen)
    if deadline is not None:
        deadline.worked = True


def deliver_chunk(seller_id: str, plan_id: str, number: int, now: datetime,
                  deadline: Deadline | None = None, gen: int = 0) -> str:
    """Deliver one chunk; returns what happened (for logs and tests). ``gen``: the message's
    generation; one older than the chunk's (a paced chunk re-queued since) does nothing."""
    now_ms = aggregates.to_ms(now)
    chunk = deliveries.get_chunk(seller_id, plan_id, number)
    if chunk is None:
        log(logger, "chunk missing", seller_id=seller_id, plan_id=plan_id, chunk=number)
        return "missing"
    automated = chunk.kind == live_fanout.KIND     # a LIVE reminder's fan-out chunk
    if chunk.status in ("done", "cancelled"):
        if not automated:
            settle(chunk, now_ms)
        return "already_done"
    if gen < int(chunk.gen or 0):
        return "stale"
    if chunk.status == "claimed" and (chunk.lease_until or 0) > now_ms:
        raise ChunkBusy(f"{plan_id}/{number} is claimed until {chunk.lease_until}")
    if not deliveries.claim(chunk, now_ms, settings().delivery_lease_seconds * 1000):
        raise ChunkBusy(f"{plan_id}/{number} changed while claiming")
    if automated:
        try:
            return live_fanout.deliver(chunk, now, timers.fire)
        except Exception:
            _release(chunk, now_ms)
            raise
    progress: dict[str, str | None] = dict(chunk.progress or {})
    plan = plans.get(seller_id, plan_id)
    variant = experiments.chunk_variant(chunk, plan)   # an A/B test's (delivery/experiments.py)
    if plan is None or plan.status != "in_progress":
        # Cancelled (or gone): nothing more goes out; the recipients not already sent to
        # (by an attempt that handed back) are recorded as skipped.
        outcomes = experiments.tagged(cancelled_outcomes(
            plan, chunk.recipients, int(chunk.sent_at), progress), variant)
        if deliveries.finish(chunk, "cancelled", outcomes, now_ms):
            metrics.outcomes(outcomes)
            settle(chunk, now_ms)
        return "cancelled"
    if variant == experiments.WAITING:
        # The rest of an A/B test before its decision: nothing goes out; the decision
        # queues this chunk again.
        _release(chunk, now_ms, progress)
        return "waiting"
    try:
        outcomes = send(experiments.as_variant(plan, variant), chunk.recipients,
                        int(chunk.sent_at), now, deadline, progress)
    except pacing.Paced as paced:
        return pacing.pace_back(chunk, progress, paced)
    except Exception:
        _release(chunk, now_ms, progress)
        raise
    if outcomes is None:
        # Out of time: keep what went out, release the claim, and queue the chunk again.
        if not deliveries.hand_back(chunk, progress):
            return "lost_claim"
        send_chunks(seller_id, plan_id, [number], gen=int(chunk.gen or 0))
        log(logger, "chunk handed back", seller_id=seller_id, plan_id=plan_id, chunk=number,
            sent=len(progress))
        return "handed_back"
    outcomes = experiments.tagged(outcomes, variant)
    if not deliveries.finish(chunk, "done", outcomes, now_ms):
        # Our claim expired and another worker took over: it re-sends the same keys and
        # records the outcome; nothing more to do here.
        return "lost_claim"
    metrics.outcomes(outcomes)     # once per recorded chunk: a redelivery finds it done
    settle(chunk, now_ms)
    return "delivered"


def _release(chunk: deliveries.ChunkItem, now_ms: int,
             progress: dict[str, str | None] | None = None) -> None:
    """Give up a claim after a handled failure so the retry need not wait for the lease; the
    keys already sent are kept, so the retry does not send them again."""
    try:
        deliveries.hand_back(chunk, progress or {})
    except Exception:  # best effort: the lease expires anyway
        logger.exception("could not release chunk claim")


def settle(chunk: deliveries.ChunkItem, now_ms: int) -> None:
    """Follow-up of a finished chunk; every step is idempotent, so it is simply redone when a
    finished chunk's message comes again (a crash after ``finish`` loses nothing). The rows
    are written before the parked engagement is read (see delivery/engagement.py)."""
    seller_id, plan_id, number = chunk.seller_id, chunk.plan_id, int(chunk.chunk)
    outcomes = chunk.outcomes or []
    deliveries.put_rows(seller_id, plan_id, outcomes, chunk=number, sent_at=chunk.sent_at)
    if chunk.kind != notices.KIND:    # the overview counts marketing plans, not order notices
        rollups.fold_chunk(seller_id, plan_id, outcomes, chunk.sent_at, now_ms)
    early, parked = engagement.fold_early(chunk)
    send_facts(seller_id, [Fact(plan_id=plan_id, part=plan_stats.chunk_part(number), key="outcome",
                                add=rules.chunk_counters(outcomes)), *early])
    if parked:
        deliveries.unpark(parked)
    if chunk.kind == notices.KIND:    # charged before the chunk counts as done
        notices.charge_chunk(chunk, now_ms)
    done, total = plan_stats.mark_chunk_done(seller_id, plan_id, number)
    if chunk.ab == experiments.SAMPLE:
        experiments.sample_chunk_done(seller_id, plan_id, now_ms)
    if done == total and chunk.status == "done" and (
            chunk.ab != experiments.SAMPLE or experiments.may_finish(plans.get(seller_id, plan_id))):
        if plans.set_status(seller_id, plan_id, {"in_progress"}, "sent", finished_at=now_ms):
            log(logger, "plan sent", seller_id=seller_id, plan_id=plan_id, chunks=total)
    if done == total and chunk.kind == notices.KIND:
        notices.finish(seller_id, plan_id, now_ms)


# ----- rendering and sending ---------------------------------------------------------------

def _context(plan: plans.PlanItem) -> dict[str, Any]:
    """What every recipient's message shares: texts, shop, products, voucher."""
    seller_id = plan.seller_id
    shop = shop_settings_store.in_force(seller_id)
    products = product_store.get_products(seller_id, list(plan.product_ids or [])[:1])
    first = products.get(plan.product_ids[0]) if plan.product_ids else None
    voucher = None
    if plan.voucher and plan.voucher.get("voucher_id"):
        voucher = voucher_store.get_voucher(seller_id, plan.voucher["voucher_id"])
    return {"texts": resolve_content(plan.content or {}), "shop": shop,
            "product": first.name if first else "", "voucher": voucher}


def compose(plan: plans.PlanItem, ctx: dict[str, Any], customer_id: str, name: str | None,
            language: str | None, channel: str, key: str, sent_at: int, test: bool = False,
            phone: str | None = None) -> chans.OutMessage:
    """One recipient's message in their language (else the shop's default)."""
    voucher, shown, voucher_text = ctx["voucher"], None, ""
    if voucher is not None:
        # A private voucher is issued per recipient: its code is an HMAC of the delivery
        # key, so a retry shows the same code. {voucher} shows that code, else the name.
        code = rules.voucher_code(key, voucher.voucher_id, secret=secrets_store.voucher_key()) \
            if voucher.kind == "private" else voucher.code
        shown = {"voucher_id": voucher.voucher_id, **({"code": code} if code else {})}
        voucher_text = code if voucher.kind == "private" else voucher.name
    values = {"name": name or "", "shop": ctx["shop"].shop_name, "product": ctx["product"],
              "voucher": voucher_text}
    text, locale = render(ctx["texts"], language, ctx["shop"].default_locale, values)
    return chans.OutMessage(key=key, seller_id=plan.seller_id, customer_id=customer_id,
                            plan_id=plan.plan_id, channel=channel, message_id=rules.message_id(key),
                            text=text, locale=locale, sent_at=sent_at,
                            product_ids=list(plan.product_ids or []), voucher=shown,
                            button=plan.button, test=test, phone=phone)


class _Prepared:
    """A chunk's messages, rendered: per channel the messages, and the outcomes of the
    recipients skipped at send time."""

    def __init__(self, plan: plans.PlanItem, recipients: list[str], sent_at: int) -> None:
        ctx = _context(plan)
        self.private = ctx["voucher"] is not None and ctx["voucher"].kind == "private"
        items = customers.batch_get(plan.seller_id, recipients)
        self.recipients = recipients
        self.channels = list(plan.channels or ["chat"])
        self.pacer = pacing.pacer(plan.seller_id, ctx["shop"].send_rate_per_minute)
        self.skipped: dict[str, dict] = {}
        self.withheld: set[str] = set()   # a family voucher they do not qualify for
        family = getattr(ctx["voucher"], "family", None)
        self.batches: dict[str, list[chans.OutMessage]] = {c: [] for c in self.channels}
        for cid in recipients:
            item = items.get(cid)
            recipient = rules.recipient_of(cid, item.agg if item else None,
                                           item.phone if item else None)
            # Re-checked at send time: a customer who blocked or unsubscribed since the
            # snapshot is skipped, not messaged.
            reason = "missing" if item is None else rules.skip_reason(
                recipient, self.channels, False, 0, None)
            if reason is not None:
                self.skipped[cid] = {"customer_id": cid, "channel": self.channels[0],
                                     "status": rules.SKIPPED, "reason": reason}
                continue
            mine = ctx
            if family and not families.qualifies(family, item.agg, sent_at):
                mine = {**ctx, "voucher": None}   # the message goes, without the voucher
                self.withheld.add(cid)
            for channel in self.channels:
                self.batches[channel].append(compose(
                    plan, mine, cid, item.name, item.language, channel,
                    rules.delivery_key(plan.plan_id, cid, channel), sent_at, phone=item.phone))

    def outcomes(self, progress: dict[str, str | None], unsent: dict | None = None) -> list[dict]:
        """Each recipient's outcome from what the channels answered (``progress``, key ->
        None or the failure). A recipient none of whose messages went out gets ``unsent``
        (a cancelled chunk), or is left out when that is None."""
        per_customer: dict[str, dict[str, str | None]] = {}
        codes: dict[str, str] = {}
        for channel, messages in self.batches.items():
            for m in messages:
                if m.key not in progress:
                    continue
                per_customer.setdefault(m.customer_id, {})[channel] = progress[m.key]
                if self.private and m.voucher and m.voucher.get("code"):
                    codes[m.customer_id] = m.voucher["code"]
        out: dict[str, dict] = dict(self.skipped)
        for cid, by_channel in per_customer.items():
            delivered = [c for c, failure in by_channel.items() if failure is None]
            status = rules.row_status({c: rules.DELIVERED if failure is None else rules.FAILED
                                       for c, failure in by_channel.items()})
            outcome = {"customer_id": cid,
                       "channel": delivered[0] if delivered else self.channels[0],
                       "status": status,
                       "reason": None if delivered else next(iter(by_channel.values()))}
            if cid in codes:
                outcome["voucher_code"] = codes[cid]
            if cid in self.withheld:
                outcome["voucher_withheld"] = True
            out[cid] = outcome
        if unsent is not None:
            for cid in self.recipients:
                out.setdefault(cid, {"customer_id": cid, "channel": self.channels[0], **unsent})
        return [out[cid] for cid in self.recipients if cid in out]


def _prepared(plan: plans.PlanItem, recipients: list[str], sent_at: int) -> Any:
    """A chunk rendered: order notices have a unit per order and channel (delivery/notices.py)."""
    if plan.kind == notices.KIND:
        return notices.Prepared(plan, recipients, sent_at)
    return _Prepared(plan, recipients, sent_at)


def send(plan: plans.PlanItem, recipients: list[str], sent_at: int, now: datetime,
         deadline: Deadline | None = None, progress: dict[str, str | None] | None = None
         ) -> list[dict] | None:
    """Render and send to each recipient over each of the plan's channels; their outcomes.

    ``progress`` (key -> None or failure) holds what earlier attempts sent: those keys are
    not sent again, and the dict is updated in place as slices go out, so a caller that
    catches a failure still knows what went out. Returns None when the deadline stopped it
    before every message went out."""
    progress = {} if progress is None else progress
    prepared = _prepared(plan, recipients, sent_at)
    for channel, messages in prepared.batches.items():
        todo = [m for m in messages if m.key not in progress]
        if not todo:
            continue
        adapter = chans.channel_for(channel)
        size = max(1, int(getattr(adapter, "slice_size", len(todo))))
        start = 0
        while start < len(todo):
            if deadline is not None and deadline.should_stop():
                log(logger, "out of time, handing back", seller_id=plan.seller_id,
                    plan_id=plan.plan_id, sent=len(progress))
                return None
            piece = todo[start:start + size]
            if prepared.pacer is not None:   # the shop's send rate (raises Paced when full)
                piece = prepared.pacer.admit(piece)
            start += len(piece)
            results = adapter.send(piece)
            for m in piece:
                progress[m.key] = results.get(m.key, "no_result")
            if deadline is not None:
                deadline.worked = True
    outcomes = prepared.outcomes(progress)
    log(logger, "chunk sent", seller_id=plan.seller_id, plan_id=plan.plan_id,
        recipients=len(recipients), delivered=sum(o["status"] == rules.DELIVERED
                                                  for o in outcomes))
    return outcomes


def cancelled_outcomes(plan: plans.PlanItem | None, recipients: list[str], sent_at: int,
                       progress: dict[str, str | None]) -> list[dict]:
    """A cancelled chunk: what an earlier attempt sent keeps its outcome, every other
    recipient is skipped as ``cancelled``."""
    unsent = {"status": rules.SKIPPED, "reason": "cancelled"}
    if plan is None or (not progress and plan.kind != notices.KIND):
        channel = plan.channels[0] if plan and plan.channels else "chat"
        return [{"customer_id": cid, "channel": channel, **unsent} for cid in recipients]
    prepared = _prepared(plan, recipients, sent_at)
    prepared.skipped = {}     # only what went out counts as sent; the rest was cancelled
    return prepared.outcomes(progress, unsent=unsent)


def send_test(seller_id: str, plan_id: str, customer_id: str, now: datetime) -> dict:
    """The plan's message to one customer, marked ``test``: no delivery row, no counter."""
    plan = plans.get(seller_id, plan_id)
    item = customers.get(seller_id, customer_id)
    if plan is None or item is None:
        raise NotFound("plan or customer not found")
    plan = experiments.first_variant(plan)
    now_ms = aggregates.to_ms(now)
    channel = (plan.channels or ["chat"])[0]
    key = f"test#{rules.delivery_key(plan_id, customer_id, channel)}#{now_ms}"
    message = compose(plan, _context(plan), customer_id, item.name, item.language, channel, key,
                      now_ms, test=True)
    failure = chans.channel_for(channel).send([message])[key]
    return {"message_id": message.message_id, "plan_id": plan_id, "customer_id": customer_id,
            "channel": channel, "status": rules.DELIVERED if failure is None else rules.FAILED,
            "reason": failure, "text": message.text, "locale": message.locale,
            "product_ids": message.product_ids, "voucher": message.voucher,
            "button": message.button, "sent_at": iso(now_ms), "test": True}
