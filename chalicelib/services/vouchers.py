"""Vouchers: create, read, list, shop codes, and claims counted from events."""

from __future__ import annotations

import secrets
from datetime import datetime

from chalicelib import audiences
from chalicelib.domain import aggregates, vouchers
from chalicelib.domain.aggregates import iso
from chalicelib.domain.errors import Invalid, NotFound
from chalicelib.domain.vouchers import VoucherCreate
from chalicelib.store import secrets as secrets_store
from chalicelib.store import vouchers as repo


def voucher_view(item: repo.VoucherItem) -> dict:
    return {"voucher_id": item.voucher_id, "name": item.name, "kind": item.kind,
            "discount": item.discount, "currency": item.currency, "min_spend": item.min_spend,
            "valid_from": iso(item.valid_from), "valid_until": iso(item.valid_until),
            "quantity": int(item.quantity) if item.quantity is not None else None,
            "claimed": int(item.claimed or 0), "segment_id": item.segment_id, "code": item.code,
            "family": item.family,
            "version": item.version, "created_at": iso(item.created_at)}


def voucher_facts(item: repo.VoucherItem) -> dict:
    """The plain values the domain's voucher rules read."""
    return {"kind": item.kind, "segment_id": item.segment_id, "valid_from": item.valid_from,
            "valid_until": item.valid_until, "quantity": item.quantity,
            "claimed": item.claimed or 0}


def new_id(prefix: str, now_ms: int) -> str:
    """Time-ordered ids, so listing newest first is a reverse range query."""
    return f"{prefix}_{now_ms:011x}{secrets.token_hex(4)}"


def shop_code(voucher_id: str) -> str:
    # Readable, stable code for a regular/targeted voucher (private codes are per recipient).
    return vouchers.shop_code(voucher_id, secret=secrets_store.voucher_key())


def create_voucher(seller_id: str, body: VoucherCreate, actor: str, now: datetime) -> dict:
    now_ms = aggregates.to_ms(now)
    if body.valid_until is not None and body.valid_until <= now:
        raise Invalid("voucher would already be expired",
                      [{"path": "valid_until", "message": "must be in the future"}])
    if body.kind == "targeted" and not audiences.segment_exists(seller_id, body.segment_id):
        raise Invalid(f"segment '{body.segment_id}' does not exist",
                      [{"path": "segment_id", "message": "no such segment"}])
    voucher_id = new_id("vch", now_ms)
    item = repo.VoucherItem(
        seller_id=seller_id, voucher_id=voucher_id, name=body.name, kind=body.kind,
        discount=body.discount.model_dump(mode="json"), currency=body.currency,
        min_spend=str(body.min_spend) if body.min_spend is not None else None,
        valid_from=aggregates.to_ms(body.valid_from) if body.valid_from else None,
        valid_until=aggregates.to_ms(body.valid_until) if body.valid_until else None,
        quantity=body.quantity, claimed=0, segment_id=body.segment_id, family=body.family,
        code=None if body.kind == "private" else shop_code(voucher_id),
        created_at=now_ms, created_by=actor)
    repo.create_voucher(item)
    return voucher_view(item)


def get_voucher(seller_id: str, voucher_id: str) -> dict:
    item = repo.get_voucher(seller_id, voucher_id) if len(voucher_id) <= 128 else None
    if item is None:
        raise NotFound(f"voucher '{voucher_id}' not found")
    return voucher_view(item)


def list_vouchers(seller_id: str, limit: int, before: str | None) -> tuple[list[dict], str | None]:
    items, nxt = repo.vouchers_page(seller_id, limit, before)
    return [voucher_view(i) for i in items], nxt


def on_events(seller_id: str, events: list[dict], now: datetime) -> None:
    """Events subscriber: each ``voucher_claimed`` counts toward its voucher's quantity, once
    per customer (a redelivered message counts nothing again)."""
    for event in events:
        if event.get("type") != "voucher_claimed" or not event.get("voucher_id"):
            continue
        at = datetime.fromisoformat(event["occurred_at"]) if event.get("occurred_at") else now
        repo.record_claim(seller_id, event["voucher_id"], event["customer_id"],
                          aggregates.to_ms(at))

