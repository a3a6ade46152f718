"""Event-id de-duplication (with TTL) and shop-level events kept for automation."""

from __future__ import annotations

from datetime import UTC, datetime

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)

from chalicelib.store.base import BaseModel, landed, meta


class EventSeen(BaseModel):
    """The mark of an applied event. ``published`` False: applied to its customer but not
    known to be published (written when a later write takes the id off the customer's
    pending list); absent (older marks) or True: applied and published."""
    Meta = meta("events_seen")
    pk = UnicodeAttribute(hash_key=True)    # seller#event_id
    customer_id = UnicodeAttribute(null=True)
    published = BooleanAttribute(null=True)
    expires = TTLAttribute()


class ShopEvent(BaseModel):
    Meta = meta("shop_events")
    seller_id = UnicodeAttribute(hash_key=True)
    sk = UnicodeAttribute(range_key=True)    # type#occurred_ms#event_id
    type = UnicodeAttribute()
    occurred_at = NumberAttribute()
    data = JSONAttribute()


def marks(seller_id: str, event_ids: list[str]) -> dict[str, bool]:
    """event_id -> published, for the ids that carry a mark (strongly consistent)."""
    keys = [f"{seller_id}#{e}" for e in dict.fromkeys(event_ids)]
    prefix = len(seller_id) + 1
    return {item.pk[prefix:]: item.published is not False
            for item in EventSeen.batch_get(keys, consistent_read=True)}


def seen(seller_id: str, event_ids: list[str]) -> set[str]:
    return set(marks(seller_id, event_ids))


def mark_seen(seller_id: str, pairs: list[tuple[str, str | None]], expires_at: int,
              published: bool = True) -> None:
    """Remember applied event ids; BatchWrite retries unprocessed items itself."""
    expiry = datetime.fromtimestamp(expires_at, UTC)
    with EventSeen.batch_write() as batch:
        for event_id, customer_id in pairs:
            batch.save(EventSeen(pk=f"{seller_id}#{event_id}", customer_id=customer_id,
                                 published=published, expires=expiry))


def put_shop_event(seller_id: str, event_id: str, etype: str, occurred_ms: int, data: dict) -> bool:
    """Store a shop-level event once; False when it was already stored."""
    item = ShopEvent(seller_id=seller_id, sk=f"{etype}#{occurred_ms:015d}#{event_id}", type=etype,
                     occurred_at=occurred_ms, data=data)
    return landed(lambda: item.save(condition=ShopEvent.sk.does_not_exist()))


def shop_events(seller_id: str, etype: str, since_ms: int = 0) -> list[ShopEvent]:
    return list(ShopEvent.query(seller_id, ShopEvent.sk >= f"{etype}#{since_ms:015d}",
                                consistent_read=True))
