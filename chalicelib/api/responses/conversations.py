"""Bodies of the conversation routes (api/conversations.py)."""

from __future__ import annotations

from pydantic import Field

from chalicelib.api.responses import ResponseModel, Time, page_of


class ConversationMessage(ResponseModel):
    """The plan's message the customer replied to."""
    text: str
    sent_at: Time


class Reply(ResponseModel):
    at: Time = Field(description="the message_replied event's occurred_at")
    text: str | None = Field(description="null when the event carried none")


class Conversation(ResponseModel):
    """One customer's replies to one plan's message."""
    customer_id: str
    plan_id: str
    replied_at: Time = Field(description="the latest reply")
    message: ConversationMessage
    replies: list[Reply] = Field(description="oldest first")


ConversationPage = page_of(Conversation)
