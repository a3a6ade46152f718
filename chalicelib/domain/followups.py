"""Follow-up to non-readers (API.md "Follow-up to non-readers"; the WhatsApp guide follows up
the ~95% who did not answer after 3 days, with new wording or an extra coupon): the request
body and when the follow-up goes. Pure."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from chalicelib.domain.plans import Button, Channels, Content, Name, ProductIds, VoucherChoice
from chalicelib.domain.send_time import SendAt

DEFAULT_AFTER_DAYS = 3
# The events that show a recipient saw the message: a click or a reply implies the read.
SEEN_EVENTS = ("message_read", "message_clicked", "message_replied")


class FollowUpCreate(BaseModel):
    """Body of POST /v1/plans/{plan_id}/follow-up: a one-off plan's form without ``audience``
    (the original's delivered recipients who have not read it when the follow-up is
    dispatched), plus ``after_days`` or ``send_at``. Fields left out are the original's."""
    model_config = ConfigDict(extra="ignore")
    name: Name | None = None
    channels: Channels | None = None
    content: Content | None = None
    voucher: VoucherChoice | None = None
    product_ids: ProductIds | None = None
    button: Button | None = None
    after_days: Annotated[int, Field(ge=1, le=30)] | None = Field(
        default=None, description=f"days after the original's send time (default "
                                  f"{DEFAULT_AFTER_DAYS}); not with send_at")
    send_at: SendAt | None = Field(
        default=None, description="instead of after_days: a time, \"best\", or null for now")
    action: Literal["draft", "send"] = Field(
        default="send", description="send (default): scheduled as the timing says; draft: kept")

    @model_validator(mode="after")
    def _one_timing(self) -> FollowUpCreate:
        if "after_days" in self.model_fields_set and "send_at" in self.model_fields_set:
            raise ValueError("give after_days or send_at, not both")
        return self

    @property
    def timed_by_send_at(self) -> bool:
        return "send_at" in self.model_fields_set


def after_days_time(original_send_ms: int, after_days: int | None, now: datetime
                    ) -> datetime | None:
    """When an ``after_days`` follow-up goes: the original's send time + that many days, or
    None ("now") when that moment has already passed."""
    days = DEFAULT_AFTER_DAYS if after_days is None else after_days
    when = datetime.fromtimestamp(original_send_ms / 1000, now.tzinfo) + timedelta(days=days)
    return when if when > now else None


def has_seen(per_plan: dict | None) -> bool:
    """Whether a customer's kept engagement with one plan (aggregates ``plans[plan_id]``)
    shows they read it."""
    return any((per_plan or {}).get(etype) for etype in SEEN_EVENTS)


def default_name(original: str) -> str:
    return f"{original} (follow-up)"
