"""Vouchers and products: request shapes and the rules a voucher must meet to go with a plan.

Kinds (SPEC.md §4): ``regular`` (visible to everyone), ``targeted`` (members of one
segment), ``private`` (only the message's recipients; a code is issued per recipient at
send time).
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from chalicelib.domain.families import Family
from chalicelib.domain.ids import Id

Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]
Currency = Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217, e.g. THB")]
ProductId = Id


def _plausible(value: datetime) -> datetime:
    # Far-off years overflow time-zone arithmetic and epoch milliseconds; no plan or
    # voucher needs them.
    if not 2000 <= value.year <= 2999:
        raise ValueError("year must be 2000–2999")
    return value


Moment = Annotated[datetime, AfterValidator(_plausible)]


def shop_code(voucher_id: str, *, secret: bytes) -> str:
    """The one code of a regular or targeted voucher (private codes are per recipient): an
    HMAC under the server's voucher secret, so the voucher id does not give the code away."""
    digest = hmac.new(secret, f"shop|{voucher_id}".encode(), hashlib.sha256).hexdigest()
    return "V" + digest[:9].upper()


class ProductPut(BaseModel):
    """Body of PUT /v1/products/{product_id}: the whole product (create or replace)."""
    model_config = ConfigDict(extra="ignore")
    name: Annotated[str, Field(min_length=1, max_length=200)]
    price: Money
    currency: Currency
    image_url: Annotated[str, Field(max_length=2000, pattern=r"^https?://\S+$")] | None = None
    stock: Annotated[int, Field(ge=0, le=1_000_000_000)] | None = None


class Discount(BaseModel):
    model_config = ConfigDict(extra="ignore")
    type: Literal["percent", "amount"]
    value: Annotated[Decimal, Field(gt=0, max_digits=14, decimal_places=2)]

    @model_validator(mode="after")
    def _percent_range(self) -> Discount:
        if self.type == "percent" and not (1 <= self.value <= 100):
            raise ValueError("a percent discount is 1–100")
        return self


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        raise ValueError("time must carry a UTC offset, e.g. 2026-11-22T10:00:00Z")
    return value


class VoucherCreate(BaseModel):
    """Body of POST /v1/vouchers."""
    model_config = ConfigDict(extra="ignore")
    name: Annotated[str, Field(min_length=1, max_length=100)]
    kind: Literal["regular", "targeted", "private"]
    discount: Discount
    currency: Currency | None = None
    min_spend: Money | None = None
    valid_from: Moment | None = None
    valid_until: Moment | None = None
    quantity: Annotated[int, Field(ge=1, le=10_000_000)] | None = None
    segment_id: Id | None = None
    family: Family | None = Field(
        default=None, description="coupon family: chat (anyone), new_customer (no counting paid "
                                  "order yet), returning_customer (last counting paid order "
                                  "within 30×24 h); a plan gives it only to those who qualify")

    @model_validator(mode="after")
    def _consistent(self) -> VoucherCreate:
        _aware(self.valid_from)
        _aware(self.valid_until)
        if self.valid_from and self.valid_until and self.valid_from >= self.valid_until:
            raise ValueError("valid_until must be after valid_from")
        if self.kind == "targeted" and not self.segment_id:
            raise ValueError("a targeted voucher needs segment_id")
        if self.kind != "targeted" and self.segment_id:
            raise ValueError("segment_id is only for targeted vouchers")
        if (self.discount.type == "amount" and self.min_spend is not None
                and self.discount.value > self.min_spend):
            raise ValueError("an amount discount cannot exceed min_spend")
        return self


def audience_misfits(voucher: dict[str, Any], segment_ids: list[str]) -> list[str]:
    """The part of ``misfits`` that holds whenever the plan is sent (checked on drafts too)."""
    if voucher["kind"] == "targeted" and set(segment_ids) != {voucher["segment_id"]}:
        return [f"targeted voucher is only for segment '{voucher['segment_id']}'; "
                "the audience must be exactly that segment"]
    return []


def misfits(voucher: dict[str, Any], segment_ids: list[str], send_ms: int) -> list[str]:
    """Why a voucher cannot go with a plan sent at ``send_ms`` to ``segment_ids`` (empty when
    it fits). A targeted voucher is visible only to its segment, so the audience must be
    exactly that segment (a tag filter or exclusions only narrow it, which stays inside)."""
    problems = audience_misfits(voucher, segment_ids)
    if voucher.get("valid_from") is not None and send_ms < voucher["valid_from"]:
        problems.append("voucher is not valid yet at the send time")
    if voucher.get("valid_until") is not None and send_ms > voucher["valid_until"]:
        problems.append("voucher has expired by the send time")
    quantity = voucher.get("quantity")
    if quantity is not None and (voucher.get("claimed") or 0) >= quantity:
        problems.append("voucher quantity is used up")
    return problems


def discount_given(discount: dict[str, Any], order_amount: Decimal | None) -> Decimal:
    """What one redemption of a voucher cost the shop (a plan's ``voucher_cost``): an amount
    discount its value (at most the order's amount, when that is known); a percent discount
    that share of the redeemed order's amount, to the cent (0 when the order is unknown)."""
    value = Decimal(str(discount["value"]))
    if discount["type"] == "amount":
        return min(value, order_amount) if order_amount is not None else value
    if order_amount is None:
        return Decimal("0.00")
    return (order_amount * value / 100).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
