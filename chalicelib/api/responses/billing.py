"""Bodies of the billing routes and the orders upload (api/billing.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.api.responses import ResponseModel, Time, omitted, page_of

Money3 = Field(description="a decimal string with three places", examples=["12.500"])


class Prices(ResponseModel):
    """The deployment's price list, per message, in the shop's currency."""
    sms: str = Field(examples=["0.035"])
    voice: str = Field(examples=["0.200"])


class Billing(ResponseModel):
    balance: str = Field(description="free to spend (three places)", examples=["12.500"])
    reserved: str = Field(description="held for plans still sending; not part of balance",
                          examples=["0.070"])
    currency: str = Field(description="the shop's currency (settings)", examples=["USD"])
    prices: Prices


class Topup(ResponseModel):
    topup_id: str
    amount: str = Field(examples=["50.000"])
    balance: str = Field(description="the balance after the top-up", examples=["62.500"])
    currency: str


class LedgerEntry(ResponseModel):
    """One movement. Signed: topup +, reserve −, release + (these sum to the balance);
    charge − (spent out of what was reserved)."""
    at: Time
    kind: Literal["topup", "reserve", "charge", "release"]
    amount: str = Field(examples=["-0.035"])
    balance_after: str
    plan_id: str = omitted()
    topup_id: str = omitted()
    test: bool = omitted(description="a test send's movement (counts in no plan cost)")


LedgerEntryPage = page_of(LedgerEntry)


class OrderRowError(ResponseModel):
    row: int = Field(description="data rows count from 1 (after the header)")
    reason: str


class OrdersUpload(ResponseModel):
    rows: int
    accepted: int
    failed: int
    errors: list[OrderRowError]
