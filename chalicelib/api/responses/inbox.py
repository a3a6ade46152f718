"""Bodies of the local chat channel's inbox (api/inbox.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.api.responses import ResponseModel, Time, page_of
from chalicelib.api.responses.plans import MessageButton, MessageVoucher


class InboxMessage(ResponseModel):
    """A message as the customer's app shows it."""
    message_id: str
    plan_id: str
    text: str
    locale: str
    product_ids: list[str]
    voucher: MessageVoucher | None
    button: MessageButton | None
    sent_at: Time
    test: bool = Field(description="a test send (counts in no figure)")
    channel: Literal["chat", "sms", "voice"] = Field(
        description="chat, or the local sms / voice channel's record of what would be sent")


InboxMessagePage = page_of(InboxMessage)
