"""Event shapes from the marketplace (API.md "Customers and events")."""

from __future__ import annotations

from datetime import datetime, timedelta
from decimal import Decimal
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, TypeAdapter

from chalicelib.domain.errors import Invalid
from chalicelib.domain.ids import Id

MAX_AGE = timedelta(days=365)
MAX_SKEW = timedelta(minutes=5)
MAX_BATCH = 500
MAX_LIST_IDS = 100   # a list field of one event (product_ids)
Money = Annotated[Decimal, Field(ge=0, max_digits=14, decimal_places=2)]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("time must carry a UTC offset, e.g. 2026-11-22T10:00:00Z")
    return value


AwareTime = Annotated[datetime, AfterValidator(_aware)]


class _Event(BaseModel):
    model_config = ConfigDict(extra="ignore")
    event_id: Id
    occurred_at: AwareTime


class _CustomerEvent(_Event):
    customer_id: Id


class OrderPaid(_CustomerEvent):
    type: Literal["order_paid"]
    order_id: Id
    amount: Money
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$")]
    product_ids: list[Id] = Field(default_factory=list, max_length=MAX_LIST_IDS)


class OrderRefunded(_CustomerEvent):
    type: Literal["order_refunded"]
    order_id: Id


class PaymentStarted(_CustomerEvent):
    type: Literal["payment_started"]
    order_id: Id
    amount: Money
    product_ids: list[Id] = Field(default_factory=list, max_length=MAX_LIST_IDS)


class ProductEvent(_CustomerEvent):
    type: Literal["cart_added", "cart_removed", "favorited", "product_viewed",
                  "product_card_clicked"]
    product_id: Id


class ReviewLeft(_CustomerEvent):
    type: Literal["review_left"]
    product_id: Id
    rating: Annotated[int, Field(ge=1, le=5)]


class FollowEvent(_CustomerEvent):
    type: Literal["followed", "unfollowed", "blocked", "unblocked"]


class Unsubscribed(_CustomerEvent):
    type: Literal["unsubscribed"]
    plan_id: Id | None = None


class LiveEvent(_CustomerEvent):
    type: Literal["live_viewed", "live_clicked"]
    live_id: Id


class VideoEvent(_CustomerEvent):
    type: Literal["video_viewed", "video_liked", "video_clicked"]
    video_id: Id


class MessageEvent(_CustomerEvent):
    type: Literal["message_read", "message_clicked", "message_replied"]
    plan_id: Id
    # What a reply said (message_replied), shown in GET /v1/conversations.
    text: Annotated[str, Field(max_length=2000)] | None = None


class VoucherEvent(_CustomerEvent):
    type: Literal["voucher_claimed", "voucher_redeemed"]
    voucher_id: Id
    plan_id: Id | None = None
    order_id: Id | None = None


class LiveStarted(_Event):
    type: Literal["live_started"]
    live_id: Id
    starts_at: AwareTime


class PriceDropped(_Event):
    type: Literal["price_dropped"]
    product_id: Id
    old_price: Money
    new_price: Money


CustomerEvent = (OrderPaid | OrderRefunded | PaymentStarted | ProductEvent | ReviewLeft
                 | FollowEvent | Unsubscribed | LiveEvent | VideoEvent | MessageEvent
                 | VoucherEvent)
ShopEvent = LiveStarted | PriceDropped
Event = Annotated[CustomerEvent | ShopEvent, Field(discriminator="type")]
EVENT_ADAPTER: TypeAdapter = TypeAdapter(Event)

SHOP_EVENT_TYPES = frozenset({"live_started", "price_dropped"})
CUSTOMER_EVENT_TYPES = frozenset(
    t for model in CustomerEvent.__args__  # type: ignore[attr-defined]
    for t in model.model_fields["type"].annotation.__args__
)
ALL_EVENT_TYPES = CUSTOMER_EVENT_TYPES | SHOP_EVENT_TYPES


class EventBatch(BaseModel):
    """Body of POST /v1/events; each item is validated on its own so one bad event stays alone."""
    # More than 500 is refused with 413 too_large by the service, not here (not a field error).
    events: list[dict] = Field(min_length=1, json_schema_extra={"maxItems": MAX_BATCH})


def check_timing(occurred_at: datetime, now: datetime) -> None:
    """Late events are kept up to 365 days; events from the future are refused."""
    if occurred_at < now - MAX_AGE:
        raise Invalid("occurred_at is more than 365 days ago")
    if occurred_at > now + MAX_SKEW:
        raise Invalid("occurred_at is in the future")
