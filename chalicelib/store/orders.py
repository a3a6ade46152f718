"""Orders the shop has seen paid (who paid each), and the orders of order notices.

- ``orders``: ``(seller, order_id) -> customer_id, paid_at``, written when an ``order_paid``
  event is ingested (before it is published, so a write that returns is seen by the next
  read). The customer aggregates keep each customer's orders under a digest; an order
  notice needs the other direction: which customer an order belongs to.
- ``notice_orders``: the orders of one notice, ``(seller#plan#rev, order_id)``, up to
  10,000 per plan (far more than a plan item can hold). Replacing a notice's orders writes
  a new revision and then points the plan at it, so a crash in between leaves the old list
  in force, never a half-written one.
"""

from __future__ import annotations

from typing import Any

from pynamodb.attributes import JSONAttribute, NumberAttribute, UnicodeAttribute

from chalicelib.store.base import BaseModel, meta
from chalicelib.store.deliveries import batch_put

BATCH_GET = 100


class OrderItem(BaseModel):
    Meta = meta("orders")
    seller_id = UnicodeAttribute(hash_key=True)
    order_id = UnicodeAttribute(range_key=True)
    customer_id = UnicodeAttribute()
    paid_at = NumberAttribute()                     # ms


class NoticeOrderItem(BaseModel):
    Meta = meta("notice_orders")
    pk = UnicodeAttribute(hash_key=True)            # seller#plan#rev
    order_id = UnicodeAttribute(range_key=True)
    customer_id = UnicodeAttribute()
    data = JSONAttribute()                          # {product_name, ship_date?, reason?, solution?}


def record_paid(seller_id: str, paid: list[tuple[str, str, int]]) -> None:
    """(order_id, customer_id, paid ms) of ingested ``order_paid`` events (rewriting one is
    harmless: its content is the same)."""
    if paid:
        batch_put(OrderItem, [OrderItem(seller_id=seller_id, order_id=o, customer_id=c, paid_at=t)
                              for o, c, t in dict(((o, (o, c, t)) for o, c, t in paid)).values()])


def customers_of(seller_id: str, order_ids: list[str]) -> dict[str, str]:
    """order_id -> the customer who paid it, for the orders the shop has seen."""
    keys = [(seller_id, o) for o in dict.fromkeys(order_ids)]
    out: dict[str, str] = {}
    for start in range(0, len(keys), BATCH_GET):
        for item in OrderItem.batch_get(keys[start:start + BATCH_GET], consistent_read=True):
            out[item.order_id] = item.customer_id
    return out


def notice_pk(seller_id: str, plan_id: str, rev: int) -> str:
    return f"{seller_id}#{plan_id}#{rev}"


def put_notice_orders(seller_id: str, plan_id: str, rev: int, orders: list[dict[str, Any]]) -> None:
    pk = notice_pk(seller_id, plan_id, rev)
    batch_put(NoticeOrderItem, [NoticeOrderItem(
        pk=pk, order_id=o["order_id"], customer_id=o["customer_id"],
        data={k: v for k, v in o.items() if k not in ("order_id", "customer_id") and v is not None})
        for o in orders])


def _plain(item: NoticeOrderItem) -> dict[str, Any]:
    return {"order_id": item.order_id, "customer_id": item.customer_id, **(item.data or {})}


def notice_orders(seller_id: str, plan_id: str, rev: int, limit: int | None = None
                  ) -> list[dict[str, Any]]:
    """The notice's orders in order id order (all of them, or the first ``limit``)."""
    items = NoticeOrderItem.query(notice_pk(seller_id, plan_id, rev), consistent_read=True,
                                  limit=limit)
    return [_plain(i) for i in items]


def get_notice_orders(seller_id: str, plan_id: str, rev: int, order_ids: list[str]
                      ) -> dict[str, dict[str, Any]]:
    pk = notice_pk(seller_id, plan_id, rev)
    keys = [(pk, o) for o in dict.fromkeys(order_ids)]
    out = {}
    for start in range(0, len(keys), BATCH_GET):
        for item in NoticeOrderItem.batch_get(keys[start:start + BATCH_GET], consistent_read=True):
            out[item.order_id] = _plain(item)
    return out


def delete_notice_orders(seller_id: str, plan_id: str, rev: int) -> None:
    """Drop a revision no plan points at any more (best effort: it is never read again)."""
    pk = notice_pk(seller_id, plan_id, rev)
    with NoticeOrderItem.batch_write() as batch:
        for item in NoticeOrderItem.query(pk, attributes_to_get=["pk", "order_id"]):
            batch.delete(item)
