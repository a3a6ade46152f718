"""Delivery worker (DESIGN.md flow 4): one chunk of recipients per message.

Exactly once per recipient, whatever retries, duplicates or crashes:
1. read the chunk; a finished one only has its (idempotent) follow-up redone;
2. claim it: one UpdateItem conditioned on the version read, with a lease; a live claim
   held by another worker sends the message back to the queue;
3. read the plan: a cancelled plan sends nothing (the chunk is recorded as skipped);
4. render and send through the channel with the delivery key as idempotency key;
5. record every outcome on the chunk, conditioned on still holding the claim;
6. follow-up: delivery rows, a metrics fact keyed by the chunk, the plan's done set.
A crash between 4 and 5 leaves a claim that expires; the next attempt re-sends with the
same keys and the channel recognises them, so the customer still gets one message.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib import metrics
from chalicelib.delivery import channels as chans
from chalicelib.delivery.chunks import ChunkMessage, Fact, send_facts
from chalicelib.domain import aggregates
from chalicelib.domain import delivery as rules
from chalicelib.domain.errors import NotFound
from chalicelib.logs import get_logger, log
from chalicelib.settings import settings
from chalicelib.store import deliveries, plan_stats, plans
from chalicelib.store import secrets as secrets_store

logger = get_logger("delivery.worker")


class ChunkBusy(Exception):
    """Another worker holds a live claim on the chunk (or just changed it): retry later."""


def handle_message(body: str, now: datetime) -> None:
    """One record of the delivery queue."""
    message = ChunkMessage.model_validate_json(body)
    deliver_chunk(message.seller_id, message.plan_id, message.chunk, now)


def deliver_chunk(seller_id: str, plan_id: str, number: int, now: datetime) -> str:
    """Deliver one chunk; returns what happened (for logs and tests)."""
    now_ms = aggregates.to_ms(now)
    chunk = deliveries.get_chunk(seller_id, plan_id, number)
    if chunk is None:
        log(logger, "chunk missing", seller_id=seller_id, plan_id=plan_id, chunk=number)
        return "missing"
    if chunk.status in ("done", "cancelled"):
        settle(chunk, now_ms)
        return "already_done"
    if chunk.status == "claimed" and (chunk.lease_until or 0) > now_ms:
        raise ChunkBusy(f"{plan_id}/{number} is claimed until {chunk.lease_until}")
    if not deliveries.claim(chunk, now_ms, settings().delivery_lease_seconds * 1000):
        raise ChunkBusy(f"{plan_id}/{number} changed while claiming")
    plan = plans.get(seller_id, plan_id)
    if plan is None or plan.status != "in_progress":
        # Cancelled (or gone): nothing more goes out; the recipients are recorded as skipped.
        outcomes = [{"customer_id": cid, "channel": (plan.channels[0] if plan and plan.channels
                                                     else "chat"),
                     "status": rules.SKIPPED, "reason": "cancelled"} for cid in chunk.recipients]
        if deliveries.finish(chunk, "cancelled", outcomes, now_ms):
            metrics.outcomes(outcomes)
            settle(chunk, now_ms)
        return "cancelled"
    try:
        outcomes = send(plan, chunk.recipients, int(chunk.sent_at), now)
    except Exception:
        _release(chunk, now_ms)
        raise
    if not deliveries.finish(chunk, "done", outcomes, now_ms):
        # Our claim expired and another worker took over: it re-sends the same keys and
        # records the outcome; nothing more to do here.
        return "lost_claim"
    metrics.outcomes(outcomes)     # once per recorded chunk: a redelivery finds it done
    settle(chunk, now_ms)
    return "delivered"


def _release(chunk: deliveries.ChunkItem, now_ms: int) -> None:
    """Give up a claim after a handled failure so the retry need not wait for the lease."""
    try:
        deliveries.claim(chunk, now_ms, 0)
    except Exception:  # best effort: the lease expires anyway
        logger.exception("could not release chunk claim")


def settle(chunk: deliveries.ChunkItem, now_ms: int) -> None:
    """Follow-up of a finished chunk; every step is idempotent, so it is simply redone when a
    finished chunk's message comes again (a crash after ``finish`` loses nothing)."""
    seller_id, plan_id, number = chunk.seller_id, chunk.plan_id, int(chunk.chunk)
    outcomes = chunk.outcomes or []
    deliveries.put_rows(seller_id, plan_id, outcomes, chunk=number, sent_at=chunk.sent_at)
    send_facts(seller_id, [Fact(plan_id=plan_id, part=plan_stats.chunk_part(number), key="outcome",
                                add=rules.chunk_counters(outcomes))])
    done, total = plan_stats.mark_chunk_done(seller_id, plan_id, number)
    if done == total and chunk.status == "done":
        if plans.set_status(seller_id, plan_id, {"in_progress"}, "sent", finished_at=now_ms):
            log(logger, "plan sent", seller_id=seller_id, plan_id=plan_id, chunks=total)


# ----- rendering and sending ---------------------------------------------------------------

def _context(plan: plans.PlanItem) -> dict[str, Any]:
    """What every recipient's message shares: texts, shop, products, voucher."""
    from chalicelib.domain.templates import resolve_content
    from chalicelib.services import shop_settings
    from chalicelib.store import catalog

    seller_id = plan.seller_id
    shop = shop_settings.get(seller_id)
    products = catalog.get_products(seller_id, list(plan.product_ids or [])[:1])
    first = products.get(plan.product_ids[0]) if plan.product_ids else None
    voucher = None
    if plan.voucher and plan.voucher.get("voucher_id"):
        voucher = catalog.get_voucher(seller_id, plan.voucher["voucher_id"])
    return {"texts": resolve_content(plan.content or {}), "shop": shop,
            "product": first.name if first else "", "voucher": voucher}


def compose(plan: plans.PlanItem, ctx: dict[str, Any], customer_id: str, name: str | None,
            language: str | None, channel: str, key: str, sent_at: int, test: bool = False
            ) -> chans.OutMessage:
    """One recipient's message in their language (else the shop's default)."""
    from chalicelib.domain.templates import render

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
                            button=plan.button, test=test)


def send(plan: plans.PlanItem, recipients: list[str], sent_at: int, now: datetime) -> list[dict]:
    """Render and send to each recipient over each of the plan's channels; their outcomes."""
    from chalicelib.store import customers

    ctx = _context(plan)
    items = customers.batch_get(plan.seller_id, recipients)
    channel_names = list(plan.channels or ["chat"])
    outcomes: dict[str, dict] = {}
    batches: dict[str, list[chans.OutMessage]] = {c: [] for c in channel_names}
    for cid in recipients:
        item = items.get(cid)
        recipient = rules.recipient_of(cid, item.agg if item else None, item.phone if item else None)
        # Re-checked at send time: a customer who blocked or unsubscribed since the snapshot
        # is skipped, not messaged.
        reason = "missing" if item is None else rules.skip_reason(recipient, channel_names,
                                                                  False, 0, None)
        if reason is not None:
            outcomes[cid] = {"customer_id": cid, "channel": channel_names[0],
                             "status": rules.SKIPPED, "reason": reason}
            continue
        for channel in channel_names:
            batches[channel].append(compose(plan, ctx, cid, item.name, item.language, channel,
                                            rules.delivery_key(plan.plan_id, cid, channel), sent_at))
    per_customer: dict[str, dict[str, str | None]] = {}
    codes: dict[str, str] = {}
    for channel, messages in batches.items():
        if not messages:
            continue
        results = chans.channel_for(channel).send(messages)
        for m in messages:
            per_customer.setdefault(m.customer_id, {})[channel] = results.get(m.key, "no_result")
            if m.voucher and m.voucher.get("code") and ctx["voucher"].kind == "private":
                codes[m.customer_id] = m.voucher["code"]
    for cid, by_channel in per_customer.items():
        delivered = [c for c, failure in by_channel.items() if failure is None]
        status = rules.row_status({c: rules.DELIVERED if failure is None else rules.FAILED
                                   for c, failure in by_channel.items()})
        outcome = {"customer_id": cid, "channel": delivered[0] if delivered else channel_names[0],
                   "status": status,
                   "reason": None if delivered else next(iter(by_channel.values()))}
        if cid in codes:
            outcome["voucher_code"] = codes[cid]
        outcomes[cid] = outcome
    log(logger, "chunk sent", seller_id=plan.seller_id, plan_id=plan.plan_id,
        recipients=len(recipients), delivered=sum(o["status"] == rules.DELIVERED
                                                  for o in outcomes.values()))
    return [outcomes[cid] for cid in recipients if cid in outcomes]


def send_test(seller_id: str, plan_id: str, customer_id: str, now: datetime) -> dict:
    """The plan's message to one customer, marked ``test``: no delivery row, no counter."""
    from chalicelib.store import customers

    plan = plans.get(seller_id, plan_id)
    item = customers.get(seller_id, customer_id)
    if plan is None or item is None:
        raise NotFound("plan or customer not found")
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
            "button": message.button, "sent_at": _iso(now_ms), "test": True}


def _iso(ms: int) -> str:
    from datetime import UTC

    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")
