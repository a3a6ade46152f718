"""Billing: the prepaid balance, top-ups and the ledger (API.md "billing")."""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from chalicelib.domain import billing as rules
from chalicelib.domain.aggregates import iso, to_ms
from chalicelib.domain.errors import Invalid
from chalicelib.logs import get_logger, log
from chalicelib.settings import settings
from chalicelib.store import billing as store
from chalicelib.store import shop_settings as shop_settings_store

logger = get_logger("billing")


def prices() -> rules.Prices:
    """The deployment's price list (settings ``CRM_PRICE_SMS``, ``CRM_PRICE_VOICE``)."""
    cfg = settings()
    return rules.Prices(sms=cfg.price_sms, voice=cfg.price_voice)


def summary(seller_id: str) -> dict[str, Any]:
    """GET /v1/billing."""
    balance, reserved = store.account(seller_id)
    return {"balance": rules.text(balance), "reserved": rules.text(reserved),
            "currency": shop_settings_store.in_force(seller_id).currency,
            "prices": prices().shown()}


def topup(seller_id: str, body: rules.TopupBody, actor: str, now: datetime) -> dict[str, Any]:
    """POST /v1/billing/topups (owner only): add to the balance."""
    now_ms = to_ms(now)
    topup_id = f"tu_{now_ms:011x}{secrets.token_hex(4)}"
    balance = store.topup(seller_id, topup_id, body.amount, now_ms)
    log(logger, "billing topup", seller_id=seller_id, topup_id=topup_id, actor=actor,
        amount=rules.text(body.amount))
    return {"topup_id": topup_id, "amount": rules.text(body.amount), "balance": rules.text(balance),
            "currency": shop_settings_store.in_force(seller_id).currency}


def _entry(item: store.BillingItem) -> dict[str, Any]:
    out: dict[str, Any] = {"at": iso(item.at), "kind": item.kind, "amount": rules.text(item.amount),
                           "balance_after": rules.text(item.balance_after)}
    if item.plan_id:
        out["plan_id"] = item.plan_id
    if item.topup_id:
        out["topup_id"] = item.topup_id
    if item.test:
        out["test"] = True
    return out


def ledger(seller_id: str, limit: int, before: str | None
           ) -> tuple[list[dict[str, Any]], str | None]:
    """GET /v1/billing/ledger: newest first."""
    if before is not None and not (before.isdigit() and len(before) == 12):
        raise Invalid("cursor is not valid", [{"path": "cursor", "message": "invalid cursor"}])
    items, nxt = store.ledger_page(seller_id, limit, before)
    return [_entry(i) for i in items], nxt
