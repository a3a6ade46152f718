"""Vouchers and voucher claims (per seller); a claim counts once per customer."""

from __future__ import annotations

from pynamodb.attributes import (
    JSONAttribute,
    NumberAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.connection import Connection
from pynamodb.exceptions import TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.store.base import BaseModel, get_or_none, landed, meta, sorted_page


class VoucherItem(BaseModel):
    Meta = meta("vouchers")
    seller_id = UnicodeAttribute(hash_key=True)
    voucher_id = UnicodeAttribute(range_key=True)   # time-ordered: vch_<ms hex><random>
    name = UnicodeAttribute()
    kind = UnicodeAttribute()                        # regular | targeted | private
    discount = JSONAttribute()                       # {"type": percent|amount, "value": "10"}
    currency = UnicodeAttribute(null=True)
    min_spend = UnicodeAttribute(null=True)          # decimal string
    valid_from = NumberAttribute(null=True)          # ms UTC
    valid_until = NumberAttribute(null=True)
    quantity = NumberAttribute(null=True)            # None = unlimited
    claimed = NumberAttribute(default=0)             # moved by voucher_claimed events
    segment_id = UnicodeAttribute(null=True)         # targeted only
    family = UnicodeAttribute(null=True)             # coupon family (domain/families.py)
    code = UnicodeAttribute(null=True)               # shop-wide code (private: per recipient)
    created_at = NumberAttribute(default=0)
    created_by = UnicodeAttribute(null=True)
    version = VersionAttribute()


class VoucherClaimItem(BaseModel):
    """One customer's claim of one voucher: makes counting claims idempotent."""
    Meta = meta("voucher_claims")
    voucher_key = UnicodeAttribute(hash_key=True)    # seller#voucher
    customer_id = UnicodeAttribute(range_key=True)
    claimed_at = NumberAttribute()


def get_voucher(seller_id: str, voucher_id: str) -> VoucherItem | None:
    return get_or_none(VoucherItem, seller_id, voucher_id)


def create_voucher(item: VoucherItem) -> bool:
    """Write a new voucher; False when that id exists already (a replayed create)."""
    return landed(lambda: item.save(condition=VoucherItem.voucher_id.does_not_exist()))


def vouchers_page(seller_id: str, limit: int, before: str | None) -> tuple[list[VoucherItem], str | None]:
    """Newest first (ids are time-ordered); returns the id to continue before."""
    return sorted_page(VoucherItem, seller_id, limit, before, newest_first=True)


def record_claim(seller_id: str, voucher_id: str, customer_id: str, at_ms: int) -> bool:
    """Count one customer's claim of a voucher once: the claim item and the voucher's
    ``claimed`` counter change together (a transaction, so a crash between them cannot
    lose or double a count). False when already counted or the voucher does not exist."""
    claim = VoucherClaimItem(voucher_key=f"{seller_id}#{voucher_id}", customer_id=customer_id,
                             claimed_at=at_ms)
    voucher = VoucherItem(seller_id=seller_id, voucher_id=voucher_id)
    try:
        with TransactWrite(connection=_connection()) as tx:
            tx.save(claim, condition=VoucherClaimItem.customer_id.does_not_exist())
            tx.update(voucher, actions=[VoucherItem.claimed.add(1)],
                      condition=VoucherItem.voucher_id.exists(), add_version_condition=False)
    except TransactWriteError as exc:
        codes = {r.code for r in (exc.cancellation_reasons or []) if r is not None}
        if codes and codes <= {"ConditionalCheckFailed", "None"}:
            return False
        raise   # a conflict or throttling: the message comes back and is tried again
    return True


_conn: Connection | None = None


def _connection() -> Connection:
    global _conn
    if _conn is None:
        cfg = VoucherItem.Meta
        _conn = Connection(region=cfg.region, host=cfg.host,
                           max_retry_attempts=cfg.max_retry_attempts)
    return _conn

