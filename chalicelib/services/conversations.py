"""Conversations (API.md "Conversations"; SPEC.md §4: the seller sees a conversation only
once the customer replied). The events subscriber stores every ``message_replied`` naming a
plan (store/conversations.py, idempotent by event id); the listing shows those whose plan
really delivered to the customer, with the message they got and their replies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from chalicelib.delivery import worker
from chalicelib.domain import delivery as delivery_rules
from chalicelib.domain import families
from chalicelib.domain.aggregates import iso
from chalicelib.logs import get_logger, log
from chalicelib.store import conversations as repo
from chalicelib.store import customers, deliveries, inbox, plans

logger = get_logger("conversations")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
US = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    """Microseconds since the epoch, exactly (a reply's ``at`` is its occurred_at as sent)."""
    return (moment - EPOCH) // US


def from_us(us: int) -> str:
    return iso(EPOCH + us * US)


def on_events(seller_id: str, events: list[dict], now: datetime) -> None:
    """Events subscriber (services/reactions.py): replies naming a plan, merged per
    customer and plan; a redelivered batch merges nothing new."""
    threads: dict[tuple[str, str], dict[str, tuple[int, str | None]]] = {}
    for e in events:
        if e.get("type") != "message_replied" or not e.get("plan_id"):
            continue
        at = to_us(datetime.fromisoformat(e["occurred_at"]))
        threads.setdefault((e["customer_id"], e["plan_id"]), {})[e["event_id"]] = (at, e.get("text"))
    changed = sum(repo.add_replies(seller_id, cid, plan_id, replies)
                  for (cid, plan_id), replies in threads.items())
    if threads:
        log(logger, "replies stored", seller_id=seller_id, threads=len(threads), changed=changed)


def _message(seller_id: str, item: repo.ConversationItem, row: deliveries.DeliveryRow,
             plan: plans.PlanItem, contexts: dict[str, Any]) -> dict[str, Any]:
    """The message the customer replied to: the local inbox's copy when there is one, else
    rendered again from the plan (deterministic: same key, same text)."""
    key = delivery_rules.delivery_key(plan.plan_id, item.customer_id, row.channel)
    sent_at = int(row.sent_at)
    stored = inbox.get_message(seller_id, item.customer_id, sent_at, delivery_rules.message_id(key))
    if stored is not None:
        return {"text": stored.text, "sent_at": iso(sent_at)}
    ctx = contexts.get(plan.plan_id) or contexts.setdefault(plan.plan_id, worker._context(plan))
    customer = customers.get(seller_id, item.customer_id)
    name, language = (customer.name, customer.language) if customer else (None, None)
    family = getattr(ctx["voucher"], "family", None)
    if family and not families.qualifies(family, customer.agg if customer else None, sent_at):
        ctx = {**ctx, "voucher": None}
    composed = worker.compose(plan, ctx, item.customer_id, name, language, row.channel, key, sent_at)
    return {"text": composed.text, "sent_at": iso(sent_at)}


def page(seller_id: str, limit: int, before: str | None) -> tuple[list[dict], str | None]:
    """GET /v1/conversations: newest reply first; only replies to a message the plan
    delivered to that customer (a reply naming another plan, or a test send, shows nothing).
    Pages are filled past conversations that do not show; the cursor is the last one read."""
    out: list[dict] = []
    contexts: dict[str, Any] = {}
    plan_cache: dict[str, plans.PlanItem | None] = {}
    cursor = before
    while len(out) < limit:
        items, cursor = repo.page(seller_id, limit - len(out), cursor)
        rows = deliveries.get_rows(seller_id, [(i.plan_id, i.customer_id) for i in items])
        for item in items:
            row = rows.get((item.plan_id, item.customer_id))
            if row is None or row.status != delivery_rules.DELIVERED or row.sent_at is None:
                continue
            if item.plan_id not in plan_cache:
                plan_cache[item.plan_id] = plans.get(seller_id, item.plan_id)
            plan = plan_cache[item.plan_id]
            if plan is None:
                continue
            replies = repo.as_dict(item)["replies"]
            out.append({"customer_id": item.customer_id, "plan_id": item.plan_id,
                        "replied_at": from_us(int(item.latest)),
                        "message": _message(seller_id, item, row, plan, contexts),
                        "replies": [{"at": from_us(at), "text": text} for at, text, _ in replies]})
        if cursor is None:
            break
    return out, cursor
