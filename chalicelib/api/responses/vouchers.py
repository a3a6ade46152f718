"""Bodies of the voucher routes (api/vouchers.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.api.responses import Amount, ResponseModel, Time, page_of


class VoucherDiscount(ResponseModel):
    type: Literal["percent", "amount"]
    value: Amount


class Voucher(ResponseModel):
    voucher_id: str
    name: str
    kind: Literal["regular", "targeted", "private"]
    discount: VoucherDiscount
    currency: str | None
    min_spend: Amount | None
    valid_from: Time | None
    valid_until: Time | None
    quantity: int | None = Field(description="null: unlimited")
    claimed: int
    segment_id: str | None = Field(description="targeted vouchers")
    code: str | None = Field(description="the shop-wide code; null for private vouchers, whose "
                                         "codes are issued per recipient")
    family: Literal["chat", "new_customer", "returning_customer"] | None = Field(
        default=None, description="coupon family; null: none")
    version: int
    created_at: Time


VoucherPage = page_of(Voucher)
