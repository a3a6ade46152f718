"""Bodies of the overview and a segment's performance (api/overview.py)."""

from __future__ import annotations

from pydantic import Field

from chalicelib.api.responses import Amount, ResponseModel


class Funnel(ResponseModel):
    """Distinct customers over the plans (automated plans: the messages) sent in the window."""
    reached: int = Field(description="delivered a message")
    read: int
    clicked: int
    ordered: int = Field(description="placed an attributed order")


class TopPlan(ResponseModel):
    plan_id: str
    name: str
    recipients: int
    orders: int
    gmv: Amount


class Day(ResponseModel):
    """One calendar day in the shop's time zone."""
    date: str = Field(description="YYYY-MM-DD, shop time zone", examples=["2026-12-02"])
    reached: int = Field(description="distinct customers delivered a message that day")
    read: int = Field(description="distinct customers who read a message that day")
    clicked: int = Field(description="distinct customers who clicked a message that day")
    orders: int = Field(description="attributed orders placed that day")
    gmv: Amount


class Overview(ResponseModel):
    """The shop over the window of ``days`` days (today the last)."""
    customers: int = Field(description="customers now")
    segments: dict[str, int] = Field(description="built-in segment id -> members now")
    plans: int = Field(description="plans sent (automated plans: that sent messages) in the window")
    funnel: Funnel
    gmv: Amount = Field(description="attributed to those plans")
    orders: int = Field(description="attributed to those plans")
    shop_gmv: Amount = Field(description="every paid, unrefunded order in the window")
    shop_orders: int
    gmv_share: float = Field(description="gmv / shop_gmv, 0 when no shop GMV", ge=0)
    plans_top: list[TopPlan] = Field(description="the best five by GMV")
    daily: list[Day] = Field(description="exactly `days` items, oldest first, the last today")


class SegmentPlan(ResponseModel):
    """A plan's whole figures (as its performance shows them)."""
    plan_id: str
    name: str
    recipients: int
    read: int
    clicked: int
    orders: int
    gmv: Amount


class SegmentTotals(ResponseModel):
    recipients: int
    read: int
    clicked: int
    orders: int
    gmv: Amount


class SegmentPerformance(ResponseModel):
    """The plans sent in the window whose audience's segment_ids named the segment."""
    segment_id: str
    plans: list[SegmentPlan]
    totals: SegmentTotals
