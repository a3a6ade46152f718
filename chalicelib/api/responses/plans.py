"""Bodies of the plan routes and the template catalogue (api/plans.py)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from chalicelib.api.responses import ResponseModel, Time, omitted, page_of
from chalicelib.domain.plans import STATUSES, Channel, Kind

PlanStatus = Literal[STATUSES]  # type: ignore[valid-type]


class PlanAudience(ResponseModel):
    """What the plan was saved with: a plan the API saved has every key; one written by
    another path (the demo shop's) may lack ``tags`` and ``exclude_segment_ids``."""
    segment_ids: list[str]
    tags: dict[str, Any] | None = omitted(description='a tags node: {"any"|"all"|"none": [names]}')
    exclude_segment_ids: list[str] = omitted()


class PlanContent(ResponseModel):
    """One of the two: a template, or a text per locale."""
    template_id: str = omitted()
    text: dict[str, str] = omitted(description="locale -> text")


class PlanVoucher(ResponseModel):
    mode: Literal["chosen", "smart"]
    voucher_id: str = omitted(description="with mode chosen")
    voucher_ids: list[str] | None = omitted(description="smart: the candidates (default: all)")


class MessageButton(ResponseModel):
    type: Literal["product_list", "live", "cart"]
    target: str = omitted()


class MessageVoucher(ResponseModel):
    """The voucher a message carries (a private one with the code issued to that recipient)."""
    voucher_id: str
    code: str = omitted()
    smart: bool = omitted(description="picked by the smart voucher (automated plans)")


class PlanVariant(ResponseModel):
    """One variant of an A/B test; a field it leaves out keeps the plan's own."""
    variant_id: str
    content: PlanContent
    voucher: PlanVoucher | None = omitted(description="null: sent without a voucher")
    product_ids: list[str] = omitted()


class PlanAbTest(ResponseModel):
    """An A/B test's settings and, once decided, its outcome (fixed at the decision)."""
    sample_percent: int
    metric: Literal["read", "click", "order"]
    wait_minutes: int
    status: Literal["testing", "decided"]
    winner: str | None
    decided_at: Time | None
    decided_by: Literal["timer", "operator", "hand"] | None = Field(
        default=None, description="timer: after wait_minutes; operator: POST /winner by the "
                                  "metric; hand: POST /winner naming the variant")
    rates: dict[str, float | None] | None = Field(
        default=None, description="variant -> metric rate among its delivered recipients (0–1; "
                                  "null when it delivered to nobody)")
    p_value: float | None = Field(default=None, description="Pearson's chi-squared over the "
                                                            "variants' metric counts; null when undefined")


class PlanWindow(ResponseModel):
    start: Time | None
    end: Time | None


class Plan(ResponseModel):
    """A plan as every plan route returns it (times UTC; services/plans.view builds it)."""
    plan_id: str
    name: str
    kind: Kind
    status: PlanStatus
    audience: PlanAudience | None
    channels: list[Channel]
    content: PlanContent | None
    voucher: PlanVoucher | None
    product_ids: list[str]
    button: MessageButton | None
    send_at: Time | None
    trigger: dict[str, Any] | None
    orders: list[dict[str, Any]] | None
    scenario: str | None = omitted(description="order notices: delayed_shipping | out_of_stock")
    order_count: int = omitted(description="order notices: how many orders it carries")
    follow_up_of: str | None = Field(default=None, description="the plan this follows up "
                                                               "(to its non-readers)")
    warnings: list[str]
    version: int
    created_at: Time
    updated_at: Time
    dispatched_at: Time | None
    finished_at: Time | None
    cancelled_at: Time | None
    created_by: str | None
    window: PlanWindow | None = omitted(description="automated plans")
    cooldown_hours: int = omitted(description="automated plans")
    holdout_percent: int = omitted(description="one-off and automated plans: the share (0–50) "
                                               "of the eligible audience held out, never messaged")
    variants: list[PlanVariant] | None = omitted(description="A/B test (one-off plans)")
    ab_test: PlanAbTest | None = omitted(description="A/B test (one-off plans)")


PlanPage = page_of(Plan)


class TestSendMessage(ResponseModel):
    """One channel's message of an order notice's test send."""
    __test__ = False
    channel: Channel
    message_id: str
    text: str
    locale: str
    status: Literal["delivered", "failed"]
    reason: str | None


class TestSend(ResponseModel):
    """The message a test send delivered (or failed to) to one customer."""
    __test__ = False   # not a pytest test class
    message_id: str
    plan_id: str
    customer_id: str
    channel: Channel
    status: Literal["delivered", "failed"]
    reason: str | None = Field(description="why it failed")
    text: str
    locale: str
    product_ids: list[str]
    voucher: MessageVoucher | None
    button: MessageButton | None
    sent_at: Time
    test: bool
    order_id: str | None = omitted(description="order notices: the order whose text was sent")
    messages: list[TestSendMessage] = omitted(description="order notices: one per channel")


class PlanHistoryEntry(ResponseModel):
    at: Time
    actor: str
    action: str = Field(examples=["test_send"])
    outcome: str = Field(description="delivered | failed | blocked | unsubscribed | rate_limited")
    customer_id: str | None
    reason: str | None
    message_id: str | None


PlanHistoryEntryPage = page_of(PlanHistoryEntry)


class Template(ResponseModel):
    """A built-in message template (with ``locale``, only the text a recipient of it gets)."""
    template_id: str
    kind: Kind
    goal: str
    name: str
    text: dict[str, str] = Field(description="locale -> text")


TemplatePage = page_of(Template)
