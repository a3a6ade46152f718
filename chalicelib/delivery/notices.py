"""Order notices in the delivery pipeline: the snapshot (one unit per order and channel),
rendering each order's message, charging what was delivered, releasing the rest.

Money, exactly once (docs/billing.md):
- the send reserved the estimate (services/order_notices.py, with the plan's status move);
- the snapshot never lets more paid messages through than the reservation holds (a customer
  who gained a phone since the send is skipped ``insufficient_balance`` once it is used up);
- each finished chunk is charged once for its delivered SMS and voice messages: the charge
  key is the chunk's, and the reservation remembers the keys it was charged for, so a chunk
  settled again (a duplicate message, a crash after the charge) charges nothing more;
- what is left is released once no more charges can come: the plan is sent, or cancelled
  with no chunk left to finish (``finish``, called by the last chunk, by dispatch and by the
  cancel). The reservation's state makes a second release a no-op.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from chalicelib.delivery import channels as chans
from chalicelib.delivery import pacing
from chalicelib.domain import aggregates, notices
from chalicelib.domain import billing as money_rules
from chalicelib.domain import delivery as rules
from chalicelib.domain.aggregates import iso
from chalicelib.logs import get_logger, log
from chalicelib.store import billing, customers, deliveries, plan_stats, plans
from chalicelib.store import orders as order_store
from chalicelib.store import shop_settings as shop_settings_store

logger = get_logger("delivery.notices")
KIND = "order_notice"


def _rev(plan: plans.PlanItem) -> int:
    return int((plan.extra or {}).get("orders_rev") or 0)


def _row(order: dict[str, Any], channel: str, **fields: Any) -> dict[str, Any]:
    """A unit's outcome: the row key is the unit (order/channel), the recipient its customer."""
    return {"customer_id": notices.unit(order["order_id"], channel),
            "recipient_id": order["customer_id"], "order_id": order["order_id"],
            "channel": channel, **fields}


def snapshot(plan: plans.PlanItem) -> tuple[list[str], list[dict], int]:
    """(eligible units, skipped rows, recipients = units) of a notice being dispatched."""
    seller_id = plan.seller_id
    orders = order_store.notice_orders(seller_id, plan.plan_id, _rev(plan))
    items = customers.batch_get(seller_id, sorted({o["customer_id"] for o in orders})) \
        if orders else {}
    held = billing.reservation(seller_id, plan.plan_id)
    budget = held.held if held is not None and held.state == billing.OPEN else money_rules.ZERO
    prices = (held.prices if held is not None else None) or {}
    eligible, skipped = [], []
    for order in sorted(orders, key=lambda o: o["order_id"]):
        item = items.get(order["customer_id"])
        for channel in plan.channels or ["chat"]:
            reason = "missing" if item is None else rules.skip_reason(
                rules.recipient_of(item.customer_id, item.agg, item.phone), [channel], False, 0, None)
            if reason is None and channel in money_rules.PAID_CHANNELS:
                price = money_rules.money(prices.get(channel, "0"))
                if price > budget:
                    reason = "insufficient_balance"
                else:
                    budget -= price
            if reason is None:
                eligible.append(notices.unit(order["order_id"], channel))
            else:
                skipped.append(_row(order, channel, status=rules.SKIPPED, reason=reason))
    return eligible, skipped, len(orders) * len(plan.channels or ["chat"])


def _message(plan: plans.PlanItem, shop: Any, order: dict[str, Any], item: Any, channel: str,
             key: str, sent_at: int, test: bool = False) -> chans.OutMessage:
    scenario = (plan.extra or {}).get("scenario") or "delayed_shipping"
    text, locale = notices.render(scenario, order, item.language, shop.default_locale,
                                  shop.shop_name, item.name)
    return chans.OutMessage(key=key, seller_id=plan.seller_id, customer_id=item.customer_id,
                            plan_id=plan.plan_id, channel=channel,
                            message_id=rules.message_id(key), text=text, locale=locale,
                            sent_at=sent_at, test=test, phone=item.phone,
                            order_id=order["order_id"])


class Prepared:
    """A chunk of units rendered: per channel the messages, and the units skipped at send
    time (the worker's interface: ``batches``, ``skipped``, ``outcomes``)."""

    def __init__(self, plan: plans.PlanItem, units: list[str], sent_at: int) -> None:
        seller_id = plan.seller_id
        shop = shop_settings_store.in_force(seller_id)
        wanted = [notices.split_unit(u) for u in units]
        found = order_store.get_notice_orders(seller_id, plan.plan_id, _rev(plan),
                                              [o for o, _ in wanted])
        items = customers.batch_get(seller_id, sorted({o["customer_id"] for o in found.values()}))
        self.recipients = units
        self.channels = list(plan.channels or ["chat"])
        # API.md "Send rate": every plan and channel of the shop together, notices included
        self.pacer = pacing.pacer(seller_id, shop.send_rate_per_minute)
        self.skipped: dict[str, dict] = {}
        self.info: dict[str, dict] = {}
        self.by_key: dict[str, str] = {}
        self.batches: dict[str, list[chans.OutMessage]] = {c: [] for c in self.channels}
        for unit, (order_id, channel) in zip(units, wanted, strict=True):
            order = found.get(order_id) or {"order_id": order_id, "customer_id": ""}
            item = items.get(order["customer_id"])
            self.info[unit] = _row(order, channel)
            reason = "missing" if item is None else rules.skip_reason(
                rules.recipient_of(item.customer_id, item.agg, item.phone), [channel], False, 0, None)
            if reason is not None:
                self.skipped[unit] = {**self.info[unit], "status": rules.SKIPPED, "reason": reason}
                continue
            key = rules.delivery_key(plan.plan_id, order_id, channel)
            self.by_key[key] = unit
            self.batches[channel].append(_message(plan, shop, order, item, channel, key, sent_at))

    def outcomes(self, progress: dict[str, str | None], unsent: dict | None = None) -> list[dict]:
        out: dict[str, dict] = dict(self.skipped)
        for key, unit in self.by_key.items():
            if key in progress:
                failure = progress[key]
                out[unit] = {**self.info[unit],
                             "status": rules.DELIVERED if failure is None else rules.FAILED,
                             "reason": failure}
        if unsent is not None:
            for unit in self.recipients:
                out.setdefault(unit, {**self.info[unit], **unsent})
        return [out[u] for u in self.recipients if u in out]


def chunk_cost(outcomes: list[dict], prices: dict[str, str]) -> Decimal:
    """What a chunk's delivered paid messages cost at the reservation's prices."""
    return money_rules.money(sum((money_rules.money(prices.get(o["channel"], "0"))
                                  for o in outcomes if o["status"] == rules.DELIVERED
                                  and o["channel"] in money_rules.PAID_CHANNELS),
                                 money_rules.ZERO))


def charge_chunk(chunk: deliveries.ChunkItem, now_ms: int) -> bool:
    """Charge a finished chunk's delivered paid messages, once (key: the chunk)."""
    seller_id, plan_id = chunk.seller_id, chunk.plan_id
    held = billing.reservation(seller_id, plan_id)
    if held is None:
        return False            # nothing paid was reserved (a chat-only notice)
    cost = chunk_cost(chunk.outcomes or [], held.prices or {})
    if cost == 0:
        return False
    charged = billing.charge(seller_id, plan_id, f"c{int(chunk.chunk):06d}", cost, now_ms)
    if charged:
        log(logger, "chunk charged", seller_id=seller_id, plan_id=plan_id, chunk=int(chunk.chunk),
            amount=money_rules.text(cost))
    return charged


def finish(seller_id: str, plan_id: str, now_ms: int) -> Decimal | None:
    """Release what the plan's reservation still holds once no charge can come any more:
    the plan is sent, or cancelled and either never snapshotted (no chunk can send: a worker
    reads the plan after the cancel) or with every chunk finished. Idempotent."""
    plan = plans.get(seller_id, plan_id)
    if plan is None or plan.status not in ("sent", "cancelled"):
        return None
    if plan.status == "cancelled":
        record = plan_stats.get_part(seller_id, plan_id, plan_stats.DISPATCH)
        state = record.get("state") if record else None
        if state in ("ready", "enqueued") and \
                len(record.get("done_chunks", ())) < int(record.get("chunks", 0)):
            return None        # chunks still to finish: the last one releases
    released = billing.release(seller_id, plan_id, now_ms)
    if released is not None:
        log(logger, "reservation released", seller_id=seller_id, plan_id=plan_id,
            amount=money_rules.text(released), status=plan.status)
    return released


def send_test(plan: plans.PlanItem, item: customers.CustomerItem, now: datetime,
              currency: str, prices: money_rules.Prices) -> dict:
    """The first order's text to one customer on every channel of the plan, marked ``test``:
    the paid messages are reserved first (402 when the balance does not cover them),
    charged once delivered, and the rest released. No delivery row, no counter."""
    seller_id, plan_id, now_ms = plan.seller_id, plan.plan_id, aggregates.to_ms(now)
    first = order_store.notice_orders(seller_id, plan_id, _rev(plan), limit=1)
    order = {**(first[0] if first else {"order_id": "", "product_name": ""}),
             "customer_id": item.customer_id}
    shop = shop_settings_store.in_force(seller_id)
    channels = list(plan.channels or ["chat"])
    messages = [_message(plan, shop, order, item, ch,
                         f"test#{rules.delivery_key(plan_id, item.customer_id, ch)}#{now_ms}",
                         now_ms, test=True) for ch in channels]
    paid = [m for m in messages if m.channel in money_rules.PAID_CHANNELS and m.phone]
    ref = f"{plan_id}#test#{now_ms}"
    hold = money_rules.money(sum((prices.of(m.channel) for m in paid), money_rules.ZERO))
    if hold > 0:
        billing.reserve(seller_id, ref, plan_id, hold, {k: v for k, v in prices.shown().items()},
                        now_ms, currency, test=True)
    results: dict[str, str | None] = {}
    try:
        for m in messages:
            results.update(chans.channel_for(m.channel).send([m]))
    finally:
        if hold > 0:
            spent = money_rules.money(sum((prices.of(m.channel) for m in paid
                                           if results.get(m.key, "unsent") is None),
                                          money_rules.ZERO))
            if spent > 0:
                billing.charge(seller_id, ref, "test", spent, now_ms, test=True)
            billing.release(seller_id, ref, now_ms, test=True)
    sent = [{"channel": m.channel, "message_id": m.message_id, "text": m.text, "locale": m.locale,
             "status": rules.DELIVERED if results.get(m.key) is None else rules.FAILED,
             "reason": results.get(m.key)} for m in messages]
    head = next((s for s in sent if s["status"] == rules.DELIVERED), sent[0])
    return {"message_id": head["message_id"], "plan_id": plan_id, "customer_id": item.customer_id,
            "channel": head["channel"], "status": head["status"], "reason": head["reason"],
            "text": head["text"], "locale": head["locale"], "product_ids": [], "voucher": None,
            "button": None, "sent_at": iso(now_ms), "test": True,
            "order_id": order["order_id"] or None, "messages": sent}
