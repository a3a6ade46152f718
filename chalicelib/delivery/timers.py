"""The automated-plan timer: a sweep over the due-time index (``store/occurrences.by_due``)
that sends every occurrence whose due time has come, through the same channel, rendering,
consent, frequency-cap, voucher and counter path as one-off plans.

Exactly one message per occurrence, whatever overlaps or crashes:
1. re-check when due (API.md's order: blocked, unsubscribed, exited, paused, outside_window,
   not_in_audience, cooldown, frequency_cap, holdout); quiet hours defer it (still pending);
2. claim the message on the plan's delivery row for the customer: one conditional write
   (no row; this occurrence's with its lease run out; or another occurrence's older than
   the cooldown), which is also the cooldown; a second sweep that read the same item loses
   it and moves on;
3. give out the smart voucher once per occurrence, send with the key
   ``plan#customer#chat#occurrence``;
4. its frequency-cap log entry (keyed by the occurrence), then the finish: the outcome
   recorded, conditioned on the occurrence still pending at the due time read. The
   occurrences' statuses are the counters (triggered, recipients, delivered, failed,
   skipped by reason): exact by construction, with no counter write of their own.
A sweep that dies between 2 and 4 leaves a claim that expires; the next sweep re-sends with
the same key (the channel recognises it: the inbox item is overwritten, HTTP carries
Idempotency-Key) and records it. Log entries are keyed, so repeats add nothing. The lease
(settings ``delivery_lease_seconds``) outlives the sweep function's timeout, so no claim
expires under a sweep that is still running.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from chalicelib import audiences, metrics
from chalicelib.delivery import channels as chans
from chalicelib.delivery import live_fanout, pacing, rollups, triggers
from chalicelib.domain import aggregates, families
from chalicelib.domain import automated as rules
from chalicelib.domain import delivery as delivery_rules
from chalicelib.domain.shop_settings import quiet_until
from chalicelib.domain.templates import render, resolve_content
from chalicelib.logs import get_logger, log
from chalicelib.settings import settings
from chalicelib.store import customers, deliveries, occurrences, plans
from chalicelib.store import products as product_store
from chalicelib.store import secrets as secrets_store
from chalicelib.store import shop_settings as shop_settings_store
from chalicelib.store import vouchers as voucher_store

logger = get_logger("delivery.timers")
PAGE = 500          # per Query of a shard (items of ~0.5 KB: well under a 1 MB page)
BUDGET_S = 20.0    # deployed functions time out after 30 s (.chalice/config.json)


def sweep(now: datetime, lease_ms: int | None = None, limit: int = PAGE,
          budget_s: float = BUDGET_S) -> dict[str, int]:
    """One pass over every shard of the due index; returns counts by outcome. No new page is
    started after ``budget_s`` (the rest waits for the next sweep, well before the function's
    timeout and the claims' lease). Shards run one after another: on moto (one process, one
    GIL) threads per shard measured slower (bench_automated: 11 against about 25 messages/s)."""
    now_ms = aggregates.to_ms(now)
    lease = lease_ms if lease_ms is not None else settings().delivery_lease_seconds * 1000
    stop_at = time.monotonic() + budget_s

    def one_shard(shard: int) -> dict[str, int]:
        summary: dict[str, int] = defaultdict(int)
        while time.monotonic() < stop_at:
            items = occurrences.due(shard, now_ms, limit)
            if not items:
                break
            groups: dict[tuple[str, str], list] = defaultdict(list)
            for item in items:
                groups[(item.seller_id, item.plan_id)].append(item)
            acted = 0
            for (seller_id, plan_id), batch in groups.items():
                for outcome, n in fire(seller_id, plan_id, batch, now, lease).items():
                    summary[outcome] += n
                    acted += n if outcome != "busy" else 0
            if len(items) < limit or not acted:
                break
        return summary

    total: dict[str, int] = defaultdict(int)
    for shard in range(occurrences.DUE_SHARDS):
        for outcome, n in one_shard(shard).items():
            total[outcome] += n
    if total:
        log(logger, "due sweep", **dict(total))
    return dict(total)


class _Plan:
    """What every due message of one plan shares, read once per sweep batch."""

    def __init__(self, plan: plans.PlanItem, now: datetime) -> None:
        self.plan, self.now, self.now_ms = plan, now, aggregates.to_ms(now)
        extra = plan.extra or {}
        self.window = extra.get("window")
        self.cooldown_ms = int(extra.get("cooldown_hours", rules.DEFAULT_COOLDOWN_HOURS)) \
            * rules.HOUR_MS
        self.holdout = int(extra.get("holdout_percent") or 0)
        self.at_start = rules.reminds_at_start(plan.trigger or {})
        self.shop = shop_settings_store.in_force(plan.seller_id)
        self.texts = resolve_content(plan.content or {}) if plan.content else {}
        self._audience: Callable[[Any], bool] | None = None
        self._sends: Any = None
        self._members: dict[str, Callable[[Any], bool]] = {}

    def in_audience(self, item: customers.CustomerItem) -> bool:
        audience = self.plan.audience or {}
        if not audience.get("segment_ids"):
            return True
        if self._audience is None:
            seller = self.plan.seller_id
            wanted = [s for s in audience["segment_ids"] if audiences.segment_exists(seller, s)]
            excluded = [s for s in audience.get("exclude_segment_ids") or []
                        if audiences.segment_exists(seller, s)]
            rule: dict[str, Any] = {"all": [{"any": [{"segment": s} for s in wanted]}]}
            if audience.get("tags"):
                rule["all"].append({"tags": audience["tags"]})
            if excluded:
                rule["all"].append({"not": {"any": [{"segment": s} for s in excluded]}})
            # A segment deleted since the plan was made contributes nobody.
            self._audience = audiences.compile_rule(seller, rule, self.now) if wanted \
                else (lambda _item: False)
        return self._audience(item)

    def member_of(self, segment_id: str, item: customers.CustomerItem) -> bool:
        if segment_id not in self._members:
            self._members[segment_id] = audiences.compile_rule(
                self.plan.seller_id, {"segment": segment_id}, self.now)
        return self._members[segment_id](item)

    def capped(self, customer_id: str) -> bool:
        cap = self.shop.frequency_cap
        if cap is None:
            return False
        if self._sends is None:
            since = self.now_ms - cap.per_days * aggregates.DAY_MS
            self._sends = delivery_rules.sends_per_customer(
                c.outcomes or [] for c in deliveries.finished_since(self.plan.seller_id, since)
                if c.kind in delivery_rules.MARKETING_KINDS)
        return self._sends[customer_id] >= cap.max_messages


def fire(seller_id: str, plan_id: str, items: list[occurrences.OccurrenceItem], now: datetime,
         lease_ms: int) -> dict[str, int]:
    """Re-check, claim and send one plan's due occurrences; returns counts by outcome."""
    now_ms = aggregates.to_ms(now)
    counts: dict[str, int] = defaultdict(int)
    items = [i for i in items if i.status == "pending"]
    if not items:
        return counts
    plan = plans.get(seller_id, plan_id)
    if plan is not None and plan.status in ("active", "paused") and rules.has_ended(
            (plan.extra or {}).get("window"), now_ms):
        triggers.end(plan, now_ms)
        plan = plans.get(seller_id, plan_id)
    if plan is None:
        for item in items:
            if occurrences.finish(item, "skipped", "cancelled", None, None, now_ms):
                counts["skipped"] += 1
        return counts
    for fan in [i for i in items if i.kind == occurrences.FANOUT]:
        # A LIVE reminder's audience, messaged in chunks by the delivery worker (each member
        # re-checked there: paused, outside the window, ... are counted per member).
        if plan.status == "cancelled":
            occurrences.finish(fan, "skipped", "cancelled", None, None, now_ms)
        else:
            counts["fanned_out"] += live_fanout.start(plan, fan, now)
    items = [i for i in items if i.kind != occurrences.FANOUT]
    if not items:
        return counts
    ctx = _Plan(plan, now)
    people = customers.batch_get(seller_id, sorted({i.customer_id for i in items}))
    rows = occurrences.last_sent(seller_id, plan_id, [i.customer_id for i in items])
    to_send: list[tuple[occurrences.OccurrenceItem, chans.OutMessage, dict]] = []
    done: list[tuple[occurrences.OccurrenceItem, str, str | None, dict | None, int | None]] = []
    claims: list[tuple[occurrences.OccurrenceItem, int]] = []
    for item in items:
        person = people.get(item.customer_id)
        reason = _reason(ctx, item, person, rows)
        if reason is None:
            quiet = quiet_until(now, ctx.shop.quiet_hours, ctx.shop.timezone)
            if quiet is not None:
                if occurrences.defer(item, aggregates.to_ms(quiet)):
                    counts["deferred"] += 1
                continue
            row = rows.get(item.customer_id)
            mine = row is not None and row[1] == item.key
            # A retry after a crash reuses the first claim's time (the inbox item's key).
            claims.append((item, row[0] if mine else now_ms))
            # Held for the claim: a later occurrence of the customer in this batch is the
            # cooldown's (if the claim does not land, another sweep is messaging them).
            rows[item.customer_id] = (now_ms, item.key, now_ms + lease_ms)
        else:
            done.append((item, "skipped", reason, None, None))
    landed = occurrences.take_all(
        seller_id, plan_id, [(i.customer_id, i.key, occurrences.chunk_number(plan_id, i.key), t)
                             for i, t in claims], now_ms + lease_ms, now_ms - ctx.cooldown_ms,
        now_ms)
    for (item, sent_at), took in zip(claims, landed, strict=True):
        if not took:
            # Another sweep is sending it, or another of the customer's occurrences was
            # claimed meanwhile: left pending, the next sweep decides (cooldown or done).
            counts["busy"] += 1
            continue
        message, outcome = _compose(ctx, item, people[item.customer_id], sent_at)
        to_send.append((item, message, outcome))
    results: dict[str, str | None] = {}
    if to_send:
        adapter = chans.channel_for("chat")
        size = max(1, int(getattr(adapter, "slice_size", len(to_send))))
        messages = [m for _, m, _ in to_send]
        # API.md "Send rate": the shop's pace holds automated messages too. A full second
        # stops this sweep's sending; what is left stays claimed until its lease ends and
        # a later sweep sends it (the same path as a sweep that crashed half way).
        pacer = pacing.pacer(seller_id, ctx.shop.send_rate_per_minute)
        start = 0
        try:
            while start < len(messages):
                piece = messages[start:start + size]
                if pacer is not None:
                    piece = pacer.admit(piece)
                start += len(piece)
                results.update(adapter.send(piece))
        except pacing.Paced:
            counts["paced"] += len(messages) - start
            left = {m.key for m in messages[start:]}
            to_send = [t for t in to_send if t[1].key not in left]
    log_entries = []
    sent: list[rollups.Message] = []
    for item, message, outcome in to_send:
        failure = results.get(message.key, "no_result")
        if failure is not None:
            occurrences.mark_row_failed(seller_id, plan_id, item.customer_id, item.key, failure)
        done.append((item, "sent" if failure is None else "failed", failure, outcome,
                     message.sent_at))
        status = delivery_rules.DELIVERED if failure is None else delivery_rules.FAILED
        sent.append((item.customer_id, item.key, int(message.sent_at), status))
        log_entries.append(deliveries.ChunkItem(
            pk=deliveries.plan_pk(seller_id, plan_id),
            chunk=occurrences.chunk_number(plan_id, item.key), seller_id=seller_id,
            plan_id=plan_id, kind=plan.kind, recipients=[item.customer_id], status="done",
            sent_at=message.sent_at, finished_at=now_ms, version=1,
            outcomes=[{"customer_id": item.customer_id, "channel": "chat", "status": status,
                       "reason": failure}]))
    # The frequency-cap log before the finishes: keyed by the occurrence, so a sweep that
    # dies after it and before a finish repeats it harmlessly, while one that died after a
    # finish and before it would leave the message out of the cap for good.
    occurrences.batch_put_log(log_entries)
    # The overview's rollups, before the finishes for the same reason (keyed by occurrence).
    rollups.fold_messages(seller_id, plan_id, sent, now_ms)
    skips = [d for d in done if d[1] == "skipped"]
    sends = [d for d in done if d[1] != "skipped"]
    for entry, first in [*zip(skips, occurrences.finish_all(skips, now_ms), strict=True),
                         *zip(sends, occurrences.finish_all(sends, now_ms, claimed=True),
                              strict=True)]:
        if first:    # else: another sweep recorded the skip first
            counts[_counted_as(entry[1])] += 1
    metrics.outcomes([{"status": s, "channel": "chat"} for s in ("delivered", "failed")
                      for _ in range(counts.get(s, 0))])
    return counts


def _counted_as(status: str) -> str:
    return {"sent": "delivered", "failed": "failed"}.get(status, "skipped")


def _reason(ctx: _Plan, item: occurrences.OccurrenceItem, person: customers.CustomerItem | None,
            last: dict[str, tuple[int, str, int]]) -> str | None:
    if person is None:
        return "exited"
    agg = aggregates.upgrade(person.agg or aggregates.empty())
    status, now_ms = ctx.plan.status, ctx.now_ms
    prior = last.get(item.customer_id)
    checks = [
        ("blocked", lambda: aggregates.is_blocked(agg)),
        ("unsubscribed", lambda: aggregates.is_unsubscribed(agg)),
        ("exited", lambda: rules.exited(item.kind, item.data or {}, agg, now_ms,
                                        at_start=ctx.at_start)),
        ("paused", lambda: status == "paused"),
        ("outside_window", lambda: status == "ended" or not rules.in_window(ctx.window, now_ms)),
        ("not_in_audience", lambda: not ctx.in_audience(person)),
        ("cooldown", lambda: prior is not None and prior[1] != item.key
         and prior[0] > now_ms - ctx.cooldown_ms),
        ("frequency_cap", lambda: ctx.capped(item.customer_id)),
        ("holdout", lambda: rules.held_out(ctx.plan.plan_id, item.customer_id, ctx.holdout)),
    ]
    if status == "cancelled":   # a cancelled plan sends nothing more
        return rules.first_reason(checks[:2]) or "cancelled"
    return rules.first_reason(checks)


def _compose(ctx: _Plan, item: occurrences.OccurrenceItem, person: customers.CustomerItem,
             sent_at: int) -> tuple[chans.OutMessage, dict]:
    plan, seller_id = ctx.plan, ctx.plan.seller_id
    agg = aggregates.upgrade(person.agg or aggregates.empty())
    product_ids = rules.message_products(item.kind, item.data or {}, agg)
    products = product_store.get_products(seller_id, product_ids) if product_ids else {}
    product_ids = [p for p in product_ids if p in products] or product_ids
    key = f"{plan.plan_id}#{item.customer_id}#chat#{item.key}"
    shown, voucher_text = _voucher(ctx, item, person, key, products, product_ids)
    first = products.get(product_ids[0]) if product_ids else None
    values = {"name": person.name or "", "shop": ctx.shop.shop_name,
              "product": first.name if first else "", "voucher": voucher_text}
    text, locale = render(ctx.texts, person.language, ctx.shop.default_locale, values)
    button = plan.button or rules.default_button(plan.trigger or {"type": item.kind},
                                                 (item.data or {}).get("live_id"))
    if button.get("type") == "live" and not button.get("target") and item.data:
        button = {**button, "target": item.data.get("live_id")}
    message = chans.OutMessage(key=key, seller_id=seller_id, customer_id=item.customer_id,
                               plan_id=plan.plan_id, channel="chat",
                               message_id=delivery_rules.message_id(key), text=text,
                               locale=locale, sent_at=sent_at, product_ids=product_ids,
                               voucher=shown, button=button)
    return message, {"product_ids": product_ids, "voucher": shown}


def _voucher(ctx: _Plan, item: occurrences.OccurrenceItem, person: customers.CustomerItem,
             key: str, products: dict, product_ids: list[str]) -> tuple[dict | None, str]:
    choice = ctx.plan.voucher
    if not choice:
        return None, ""
    seller_id = ctx.plan.seller_id
    smart = choice.get("mode") == "smart"
    if smart:
        voucher = _smart_pick(ctx, item, person, products, product_ids)
    else:
        voucher = voucher_store.get_voucher(seller_id, choice["voucher_id"])
    if voucher is None:
        return None, ""
    code = delivery_rules.voucher_code(key, voucher.voucher_id,
                                       secret=secrets_store.voucher_key()) \
        if voucher.kind == "private" else voucher.code
    shown: dict[str, Any] = {"voucher_id": voucher.voucher_id, **({"code": code} if code else {})}
    if smart:
        shown["smart"] = True
    return shown, (code if voucher.kind == "private" else voucher.name) or ""


def _smart_pick(ctx: _Plan, item: occurrences.OccurrenceItem, person: customers.CustomerItem,
                products: dict, product_ids: list[str]) -> voucher_store.VoucherItem | None:
    """API.md's smart voucher over the listed (or all) vouchers, counting the ones given out;
    the pick is given out once per occurrence (a retry keeps its own)."""
    seller_id = ctx.plan.seller_id
    listed = (ctx.plan.voucher or {}).get("voucher_ids")
    if listed:
        found = [voucher_store.get_voucher(seller_id, v) for v in listed]
        items = [v for v in found if v is not None]
    else:
        items = _all_vouchers(seller_id)
    given = occurrences.voucher_given(seller_id, [v.voucher_id for v in items], item.key)
    held = [v for v in items if given[v.voucher_id][1]]
    if held:        # a retry after a crash: the voucher its first attempt was given
        return held[0]
    basket = sum((Decimal(str(products[p].price)) for p in product_ids if p in products),
                 Decimal(0))
    facts = {v.voucher_id: {"voucher_id": v.voucher_id, "kind": v.kind, "discount": v.discount,
                            "min_spend": v.min_spend, "valid_from": v.valid_from,
                            "valid_until": v.valid_until, "quantity": v.quantity,
                            "given": given[v.voucher_id][0], "segment_id": v.segment_id}
             for v in items}
    by_id = {v.voucher_id: v for v in items}
    # Coupon families (domain/families.py): only vouchers this customer qualifies for now.
    allowed = {v.voucher_id for v in families.qualifying(
        items, lambda v: getattr(v, "family", None), person.agg, ctx.now_ms)}
    candidates = [f for f in facts.values() if f["voucher_id"] in allowed and rules.usable_now(
        f, ctx.now_ms, lambda segment: ctx.member_of(segment, person))]
    while candidates:
        pick = rules.smart_voucher(candidates, basket)
        if pick is None:
            return None
        if occurrences.take_voucher(seller_id, pick["voucher_id"], item.key, pick["quantity"]):
            return by_id[pick["voucher_id"]]
        candidates = [c for c in candidates if c["voucher_id"] != pick["voucher_id"]]
    return None


def _all_vouchers(seller_id: str) -> list[voucher_store.VoucherItem]:
    out, before = [], None
    while True:
        page, before = voucher_store.vouchers_page(seller_id, 200, before)
        out.extend(page)
        if not before:
            return list(reversed(out))   # oldest first: "the first listed" is the oldest

