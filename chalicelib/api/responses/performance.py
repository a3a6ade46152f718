"""Bodies of a plan's performance and deliveries (api/performance.py)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field

from chalicelib.api.responses import Amount, ResponseModel, Time, omitted, page_of
from chalicelib.api.responses.plans import Channel

Rate = Annotated[float, Field(ge=0, le=1, description="a fraction 0–1")]


class HoldoutGroup(ResponseModel):
    """The held-out customers: never messaged, measured like the recipients."""
    size: int = Field(description="held-out customers (skipped.holdout)")
    converted: int = Field(description="held-out customers who paid an order within the "
                                       "attribution window after the plan's send time")
    conversion: Rate | None = Field(description="converted / size; null when nobody was held out")


class Lift(ResponseModel):
    absolute: float | None = Field(description="recipients_conversion − holdout.conversion; "
                                               "null when either group is empty")
    ci95: list[float] | None = Field(min_length=2, max_length=2,
                                     description="[lo, hi]: the 95% interval of absolute by "
                                                 "Newcombe's hybrid score method (Wilson score "
                                                 "intervals), within [-1, 1]")
    method: Literal["newcombe"]


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
    voucher_cost: Amount = Field(description="the discount given by the plan's redeemed vouchers")
    by_variant: dict[str, VariantPerformance] = Field(description="A/B plans: per variant")
    holdout: HoldoutGroup = omitted(description="plans with a holdout_percent")
    recipients_conversion: Rate | None = omitted(
        description="with a holdout: converted delivered recipients / delivered recipients "
                    "(paid an order within the attribution window after the send, read or not)")
    lift: Lift = omitted(description="with a holdout")
    incremental_gmv: Amount | None = omitted(
        description="with a holdout: (delivered recipients' GMV per recipient − the holdout's GMV "
                    "per held-out customer) × delivered recipients, every paid order in the "
                    "window; null when nobody was held out")
    net_incremental_gmv: Amount | None = omitted(description="incremental_gmv − voucher_cost")
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
