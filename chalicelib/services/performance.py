"""A plan's performance (exact counters) and its delivery rows, for the API."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from chalicelib.domain import aggregates, experiments, lift
from chalicelib.domain import delivery as rules
from chalicelib.domain.aggregates import iso
from chalicelib.domain.billing import text as amount_text
from chalicelib.domain.errors import Invalid, NotFound
from chalicelib.services import automated
from chalicelib.store import billing, customers, deliveries, inbox, occurrences, plan_stats, plans
from chalicelib.store import shop_settings as shop_settings_store

COUNTERS = ("delivered", "failed", "read", "clicked", "replied", "unsubscribed", "orders",
            "vouchers_claimed", "vouchers_redeemed", "vouchers_withheld")


def _plan(seller_id: str, plan_id: str) -> plans.PlanItem:
    plan = plans.get(seller_id, plan_id)
    if plan is None:
        raise NotFound(f"plan '{plan_id}' not found")
    return plan


def _cursor_key(cursor: dict | None, name: str) -> str | None:
    """The position a cursor holds (a cursor is client input: anything else is a 400)."""
    value = (cursor or {}).get(name)
    if value is not None and not (isinstance(value, str) and value):
        raise Invalid("cursor is not valid", [{"path": "cursor", "message": "invalid cursor"}])
    return value


def performance(seller_id: str, plan_id: str) -> dict[str, Any]:
    """GET /v1/plans/{id}/performance: the sum of the plan's stats parts."""
    plan = _plan(seller_id, plan_id)
    totals = {name: 0 for name in COUNTERS}
    if plan.kind == "automated":   # every counter counts messages, one per occurrence
        totals.update(triggered=0, recipients=0)
    skipped = {reason: 0 for reason in rules.SKIP_REASONS}
    if plan.kind == "automated":
        skipped.update({reason: 0 for reason in automated.SKIP_REASONS})
    if plan.kind == "one_off":
        skipped["holdout"] = 0
    gmv, cost, recipients, voucher_cost, record = Decimal(0), Decimal(0), 0, Decimal(0), None
    # The holdout's measurement: [converted, window GMV] of the delivered recipients (chunk
    # parts) and of the held-out customers (``h#`` parts).
    measured = {"c": [0, Decimal(0)], "h": [0, Decimal(0)]}
    parts = plan_stats.all_parts(seller_id, plan_id)
    for part in parts:
        if part["part"] == plan_stats.DISPATCH:
            recipients, record = int(part.get("recipients", 0)), part
        else:
            group = measured.get(part["part"][:1])
            if group is not None:
                group[0] += int(part.get("converted", 0))
                group[1] += Decimal(part.get("window_gmv", 0))
        voucher_cost += Decimal(part.get("voucher_cost", 0))
        if part["part"].startswith("h#"):
            continue   # the holdout's parts hold conversions only
        for name, value in part.items():
            if name in totals:
                totals[name] += int(value)
            elif name.startswith("skipped_"):
                reason = name.removeprefix("skipped_")
                skipped[reason] = skipped.get(reason, 0) + int(value)
        gmv += Decimal(part.get("gmv", 0))
        cost += Decimal(part.get("cost", 0))
    if plan.kind == "automated":   # message counters: the occurrences' own statuses
        for name, value in occurrences.tally(seller_id, plan_id).items():
            if name.startswith("skipped_"):
                skipped[name.removeprefix("skipped_")] = value
            else:
                totals[name] = value
    recipients = totals.pop("recipients", recipients)
    shown = f"{cost:.2f}"
    if plan.kind == "order_notice":   # what was charged (three places, like every billing amount)
        held = billing.reservation(seller_id, plan_id)
        shown = amount_text(held.charged if held is not None else Decimal(0))
    out = {"plan_id": plan_id, "recipients": recipients, **totals, "skipped": skipped,
           "gmv": f"{gmv:.2f}", "cost": shown, "voucher_cost": f"{voucher_cost:.2f}",
           "by_variant": _by_variant(plan, record, parts)}
    if int((plan.extra or {}).get("holdout_percent") or 0):
        if plan.kind == "one_off":
            (converted, window_gmv), (held_converted, held_gmv) = measured["c"], measured["h"]
            out.update(lift.holdout_figures(totals["delivered"], converted, window_gmv,
                                            skipped.get("holdout", 0), held_converted, held_gmv,
                                            voucher_cost))
        elif plan.kind == "automated":
            out.update(_occurrence_holdout(seller_id, plan_id, voucher_cost))
    return out


def _occurrence_holdout(seller_id: str, plan_id: str, voucher_cost: Decimal) -> dict[str, Any]:
    """An automated plan's holdout figures, per occurrence (docs/automated-plans.md): each
    delivered or held-out occurrence converted when its customer paid an order within the
    attribution window after its due time; read from the customers' kept orders now."""
    found = occurrences.measured(seller_id, plan_id)
    window = shop_settings_store.in_force(seller_id).attribution_window_days
    people = customers.batch_get(seller_id, sorted({c for c, _, _ in found})) if found else {}
    tally = {"sent": [0, 0, Decimal(0)], "holdout": [0, 0, Decimal(0)]}   # n, converted, gmv
    for cid, due_ms, group in found:
        item = people.get(cid)
        rows = aggregates.order_rows(item.agg or {}) if item is not None else []
        converted, gmv = lift.window_orders(rows, due_ms, window)
        tally[group][0] += 1
        tally[group][1] += int(converted)
        tally[group][2] += gmv
    (sent, converted, gmv), (held, held_converted, held_gmv) = tally["sent"], tally["holdout"]
    return lift.holdout_figures(sent, converted, gmv, held, held_converted, held_gmv, voucher_cost)


def _by_variant(plan: plans.PlanItem, record: dict | None, parts: list[dict]) -> dict[str, Any]:
    """An A/B plan's counters per variant (the rest under its winner); {} for other plans."""
    variants = [v["variant_id"] for v in (plan.extra or {}).get("variants") or []]
    if plan.kind != "one_off" or not variants:
        return {}
    return experiments.by_variant(variants, record, parts, (plan.ab_decision or {}).get("winner"))


def deliveries_page(seller_id: str, plan_id: str, status: str | None, limit: int,
                    cursor: dict | None) -> tuple[list[dict], dict | None]:
    """GET /v1/plans/{id}/deliveries: one row per recipient of the snapshot (automated
    plans: one per message)."""
    if _plan(seller_id, plan_id).kind == "automated":
        items, after = automated.deliveries_page(seller_id, plan_id, status, limit,
                                                 _cursor_key(cursor, "a"))
        return items, ({"a": after} if after else None)
    rows, after = deliveries.rows_page(seller_id, plan_id, status, limit, _cursor_key(cursor, "a"))
    items = []
    for row in rows:
        item: dict[str, Any] = {"customer_id": row.recipient_id or row.customer_id,
                                "channel": row.channel, "status": row.status}
        if row.order_id:
            item["order_id"] = row.order_id
        if row.reason:
            item["reason"] = row.reason
        if row.sent_at is not None and row.status != rules.SKIPPED:
            item["sent_at"] = iso(row.sent_at)
        if row.variant:
            item["variant"] = row.variant
        items.append(item)
    return items, ({"a": after} if after else None)


def inbox_page(seller_id: str, customer_id: str, limit: int, cursor: dict | None
               ) -> tuple[list[dict], dict | None]:
    """GET /v1/customers/{id}/inbox: what the local chat channel delivered, newest first."""
    if customers.get(seller_id, customer_id) is None:
        raise NotFound(f"customer '{customer_id}' not found")
    items, before = inbox.page(seller_id, customer_id, limit, _cursor_key(cursor, "b"))
    return [{"message_id": i.message_id, "plan_id": i.plan_id, "text": i.text, "locale": i.locale,
             "product_ids": list(i.product_ids or []), "voucher": i.voucher, "button": i.button,
             "sent_at": iso(i.sent_at), "test": bool(i.test), "channel": i.channel or "chat"}
            for i in items], \
        ({"b": before} if before else None)
