"""Bodies of the customer and event routes (api/customers.py)."""

from __future__ import annotations

from pydantic import Field

from chalicelib.api.responses import Amount, ResponseModel, Time, page_of
from chalicelib.domain.customers import Gender


class CustomerStats(ResponseModel):
    """Lifetime order figures (orders that count: paid, not refunded)."""
    order_count: int
    total_paid: Amount
    first_order_at: Time | None
    last_order_at: Time | None


class Customer(ResponseModel):
    """A customer (domain/customers.view builds it)."""
    customer_id: str
    name: str | None
    phone: str | None = Field(description="E.164")
    age: int | None
    gender: Gender | None
    region: str | None
    language: str | None
    is_follower: bool
    followed_at: Time | None
    blocked: bool
    unsubscribed: bool
    tags: list[str] = Field(description="tag names, sorted")
    segments: list[str] = Field(description="the built-in segments the customer is in now")
    stats: CustomerStats
    version: int


CustomerPage = page_of(Customer)


class RejectedEvent(ResponseModel):
    index: int = Field(description="the event's position in the batch, from 0")
    error: str


class IngestReport(ResponseModel):
    """What POST /v1/events did with the batch."""
    accepted: int
    duplicates: int
    rejected: list[RejectedEvent]
