"""Order notices: their orders (from the body or a CSV upload), the estimate and the
reservation on send, the release after a cancel, and test sends. The plans service
(services/plans.py) calls in here for ``kind: order_notice``; delivering them is
chalicelib/delivery's (delivery/notices.py)."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime
from decimal import Decimal
from typing import Any

from chalicelib.delivery import notices as delivery
from chalicelib.domain import aggregates
from chalicelib.domain import billing as money
from chalicelib.domain import notices as rules
from chalicelib.domain import plans as plan_rules
from chalicelib.domain.aggregates import to_ms
from chalicelib.domain.errors import Conflict, Invalid, NotFound, TooLarge
from chalicelib.domain.shop_settings import ShopSettings
from chalicelib.logs import get_logger, log
from chalicelib.services.billing import prices
from chalicelib.store import billing, customers
from chalicelib.store import orders as order_store
from chalicelib.store import plans as plan_store
from chalicelib.store.versioning import retry_on_conflict

logger = get_logger("order_notices")
KIND = "order_notice"


def new_rev() -> int:
    """A fresh revision number for a notice's orders (unique, so two concurrent edits never
    write into the same revision)."""
    return secrets.randbits(48)


def _known(seller_id: str, orders: list[dict[str, Any]]) -> dict[str, str]:
    return order_store.customers_of(seller_id, [o["order_id"] for o in orders])


def store_orders(seller_id: str, plan_id: str, scenario: str | None,
                 orders: list[Any] | None) -> dict[str, Any]:
    """Validate a notice's orders (each known, none repeated, each with what the scenario
    needs: one 400 naming every ``orders[i]``) and write them as a new revision; returns the
    plan's ``extra``."""
    plain = [o.model_dump(exclude_none=True) if hasattr(o, "model_dump") else dict(o)
             for o in orders or []]
    problems = rules.orders_problems(scenario, plain)
    owners = _known(seller_id, plain) if plain else {}
    problems += [{"path": f"orders[{i}]", "message": f"order '{o['order_id']}' is not a paid "
                                                     "order this shop has seen"}
                 for i, o in enumerate(plain) if o["order_id"] not in owners]
    if problems:
        raise Invalid("orders are not valid", sorted(problems, key=lambda p: _index(p["path"])))
    rev = new_rev()
    order_store.put_notice_orders(seller_id, plan_id, rev, [
        {**o, "customer_id": owners[o["order_id"]]} for o in plain])
    return {"scenario": scenario, "order_count": len(plain), "orders_rev": rev}


def _index(path: str) -> int:
    try:
        return int(path.split("[", 1)[1].split("]", 1)[0])
    except (IndexError, ValueError):
        return -1


def patched_extra(seller_id: str, item: plan_store.PlanItem, scenario: str | None,
                  orders: list[Any] | None, given: set[str]) -> dict[str, Any]:
    """The ``extra`` after a PATCH of ``scenario`` and/or ``orders``."""
    extra = dict(item.extra or {})
    scenario = scenario if "scenario" in given else extra.get("scenario")
    if "orders" in given:
        return {**extra, **store_orders(seller_id, item.plan_id, scenario, orders)}
    current = order_store.notice_orders(seller_id, item.plan_id, int(extra.get("orders_rev") or 0))
    problems = rules.orders_problems(scenario, current)
    if problems:
        raise Invalid("the notice's orders do not fit the scenario", problems)
    return {**extra, "scenario": scenario}


def orders_of(item: plan_store.PlanItem) -> list[dict[str, Any]]:
    extra = item.extra or {}
    found = order_store.notice_orders(item.seller_id, item.plan_id, int(extra.get("orders_rev") or 0))
    return [{k: v for k, v in o.items() if k != "customer_id"} for o in found]


# ----- the estimate and the reservation --------------------------------------------------

def estimate(item: plan_store.PlanItem) -> Decimal:
    """The SMS and voice messages that would go: one per paid channel for each order whose
    customer has a phone and has not blocked or unsubscribed, at the price list's prices."""
    orders = order_store.notice_orders(item.seller_id, item.plan_id,
                                       int((item.extra or {}).get("orders_rev") or 0))
    found = customers.batch_get(item.seller_id, sorted({o["customer_id"] for o in orders})) \
        if orders else {}

    def facts(order: dict[str, Any]) -> tuple[bool, bool]:
        c = found.get(order["customer_id"])
        if c is None:
            return False, False
        agg = c.agg or aggregates.empty()
        return not (aggregates.is_blocked(agg) or aggregates.is_unsubscribed(agg)), bool(c.phone)

    return money.estimate((facts(o) for o in orders), item.channels or [], prices())


Mover = Callable[..., plan_store.PlanItem | None]


def reserving_move(item: plan_store.PlanItem, cfg: ShopSettings, now: datetime) -> Mover:
    """The status move of a notice's send: the estimate is checked against the balance (402
    with estimate and balance, the plan unchanged) and reserved in the same conditional write
    as the move. A notice with nothing to pay moves like any plan."""
    cost = estimate(item)
    if cost == 0:
        return plan_store.set_status
    balance, _ = billing.account(item.seller_id)
    if cost > balance:      # early, before any schedule exists; the write checks it again
        raise money.refused(cost, balance, cfg.currency)
    now_ms = to_ms(now)

    def move(seller_id: str, plan_id: str, allowed_from: set[str], to: str,
             **fields: Any) -> plan_store.PlanItem | None:
        if not billing.reserve(seller_id, plan_id, plan_id, cost, prices().shown(), now_ms,
                               cfg.currency, move=(allowed_from, to, fields)):
            return None
        log(logger, "notice reserved", seller_id=seller_id, plan_id=plan_id,
            amount=money.text(cost), status=to)
        return plan_store.get(seller_id, plan_id)

    return move


def undo_send(seller_id: str, plan_id: str, now: datetime) -> None:
    """Handing over failed: back to draft, and the reservation given back with it."""
    now_ms = to_ms(now)
    if billing.release(seller_id, plan_id, now_ms, forget=True,
                       move=({"in_progress"}, "draft", {"updated_at": now_ms})) is None:
        plan_store.set_status(seller_id, plan_id, {"in_progress"}, "draft", updated_at=now_ms)


def after_cancel(seller_id: str, plan_id: str, now: datetime) -> None:
    """Release the reservation now if no chunk can still send (else the last one will)."""
    delivery.finish(seller_id, plan_id, to_ms(now))


# ----- the CSV upload --------------------------------------------------------------------

def upload(seller_id: str, plan_id: str, raw: bytes | str, now: datetime) -> dict[str, Any]:
    """POST /v1/plans/{plan_id}/orders: replace a draft notice's orders from a CSV."""
    item = plan_store.get(seller_id, plan_id)
    if item is None:
        raise NotFound(f"plan '{plan_id}' not found")
    if item.kind != KIND:
        raise Conflict("only an order notice takes an orders file",
                       [{"path": "kind", "message": "not an order notice"}])
    plan_rules.check_action(item.kind, item.status, "edit")
    scenario = (item.extra or {}).get("scenario")
    try:
        rows, accepted, errors = rules.parse_csv(raw, scenario)
    except ValueError as exc:
        raise Invalid(str(exc), [{"path": "body", "message": str(exc)}]) from None
    if rows > rules.MAX_ORDERS:
        raise TooLarge(f"at most {rules.MAX_ORDERS} orders per notice; the file has {rows} rows")
    owners = _known(seller_id, accepted) if accepted else {}
    kept = []
    for order in accepted:
        if order["order_id"] in owners:
            kept.append({k: v for k, v in order.items() if k != "_row"}
                        | {"customer_id": owners[order["order_id"]]})
        else:
            errors.append({"row": order["_row"], "reason": f"order '{order['order_id']}' is not a "
                                                          "paid order this shop has seen"})
    rev = new_rev()
    order_store.put_notice_orders(seller_id, plan_id, rev, kept)

    def attempt(_: int) -> plan_store.PlanItem:
        current = plan_store.get(seller_id, plan_id)
        if current is None:
            raise NotFound(f"plan '{plan_id}' not found")
        plan_rules.check_action(current.kind, current.status, "edit")
        current.extra = {**(current.extra or {}), "order_count": len(kept), "orders_rev": rev}
        current.updated_at = to_ms(now)
        plan_store.save(current)
        return current

    old = int((item.extra or {}).get("orders_rev") or 0)
    retry_on_conflict(attempt, what=f"plan '{plan_id}'")
    if old:
        order_store.delete_notice_orders(seller_id, plan_id, old)
    errors.sort(key=lambda e: e["row"])
    log(logger, "notice orders uploaded", seller_id=seller_id, plan_id=plan_id, rows=rows,
        accepted=len(kept), failed=len(errors))
    return {"rows": rows, "accepted": len(kept), "failed": len(errors), "errors": errors}


def test_send(item: plan_store.PlanItem, customer: customers.CustomerItem, cfg: ShopSettings,
              now: datetime) -> dict[str, Any]:
    return delivery.send_test(item, customer, now, cfg.currency, prices())
