"""Bodies of a plan's performance and deliveries (api/performance.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.api.responses import Amount, ResponseModel, Time, omitted, page_of
from chalicelib.api.responses.plans import Channel


class VariantPerformance(ResponseModel):
    """One A/B variant's exact counters (the rest counts under its winner)."""
    recipients: int = Field(description="the variant's sample, plus the rest for the winner")
    delivered: int
    read: int
    clicked: int
    replied: int
    orders: int
    gmv: Amount


class PlanPerformance(ResponseModel):
    """A plan's exact counters: each customer at most once per counter."""
    plan_id: str
    recipients: int
    delivered: int
    failed: int
    read: int
    clicked: int
    replied: int
    unsubscribed: int
    orders: int
    vouchers_claimed: int
    vouchers_redeemed: int
    vouchers_withheld: int = Field(default=0, description="delivered without the plan's family "
                                                          "voucher: the recipient did not qualify")
    skipped: dict[str, int] = Field(description="by reason")
    gmv: Amount
    cost: Amount
    by_variant: dict[str, VariantPerformance] = Field(description="A/B plans: per variant")
    triggered: int = omitted(description="automated plans: occurrences created")


class Delivery(ResponseModel):
    """One recipient of the plan's audience snapshot."""
    customer_id: str
    channel: Channel
    status: Literal["delivered", "failed", "skipped"]
    reason: str = omitted(description="why it was skipped or failed")
    sent_at: Time = omitted()
    variant: str = omitted()
    occurrence: str = omitted(description="automated plans: one item per message")
    order_id: str = omitted(description="order notices: the order this message is about")


DeliveryPage = page_of(Delivery)
