"""The local chat channel's inbox: what each customer's app would show.

Keyed so that the same delivery always lands on the same item (the sort key is the
message's first-claim time plus its id, both fixed by the delivery key), which makes a
re-sent message an overwrite with identical content, never a second message.
"""

from __future__ import annotations

from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
)

from chalicelib.store.base import BaseModel, get_or_none, meta, sorted_page
from chalicelib.store.deliveries import batch_put


class InboxItem(BaseModel):
    Meta = meta("inbox")
    pk = UnicodeAttribute(hash_key=True)         # seller#customer
    sk = UnicodeAttribute(range_key=True)        # sent_at (13 digits) # message_id
    message_id = UnicodeAttribute()
    plan_id = UnicodeAttribute()
    text = UnicodeAttribute()
    locale = UnicodeAttribute()
    product_ids = ListAttribute(of=UnicodeAttribute, default=list)
    voucher = JSONAttribute(null=True)
    button = JSONAttribute(null=True)
    sent_at = NumberAttribute()
    test = BooleanAttribute(default=False)
    delivery_key = UnicodeAttribute(null=True)
    channel = UnicodeAttribute(null=True)          # chat (absent), sms, voice (the local channels)
    phone = UnicodeAttribute(null=True)            # where a local sms / voice message went


def inbox_pk(seller_id: str, customer_id: str) -> str:
    return f"{seller_id}#{customer_id}"


def new_message(seller_id: str, customer_id: str, message: dict) -> InboxItem:
    return InboxItem(pk=inbox_pk(seller_id, customer_id),
                     sk=f"{message['sent_at']:013d}#{message['message_id']}", **message)


def put_messages(items: list[InboxItem]) -> None:
    batch_put(InboxItem, items)


def page(seller_id: str, customer_id: str, limit: int, before: str | None
         ) -> tuple[list[InboxItem], str | None]:
    """Newest first; returns the sort key to continue before."""
    return sorted_page(InboxItem, inbox_pk(seller_id, customer_id), limit, before,
                       newest_first=True)


def get_message(seller_id: str, customer_id: str, sent_at: int, message_id: str
                ) -> InboxItem | None:
    """One delivered message by its key parts (what a conversation shows)."""
    return get_or_none(InboxItem, inbox_pk(seller_id, customer_id), f"{sent_at:013d}#{message_id}")
