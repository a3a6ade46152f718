"""The product-interest index price drops fan out over (docs/automated-plans.md): who
favourited or carted a product lately, and when they last paid an order containing it,
kept from the events as conditional maxima (any order and any repeat give the same rows)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute

from chalicelib.store.aws import client
from chalicelib.store.base import BaseModel, meta

INTEREST_DAYS = 31        # favourites / carts older than 30 days never fan out


class InterestItem(BaseModel):
    """Who favourited or carted a product lately (and when they last paid an order with it)."""
    Meta = meta("product_interest")
    pk = UnicodeAttribute(hash_key=True)            # seller#product
    customer_id = UnicodeAttribute(range_key=True)
    interest_at = NumberAttribute(null=True)        # latest favourite or cart of it, ms
    paid_at = NumberAttribute(null=True)            # latest paid order containing it, ms
    expires = TTLAttribute(null=True)



def _interest_pk(seller_id: str, product_id: str) -> str:
    return f"{seller_id}#{product_id}"


def note_interest(seller_id: str, rows: list[tuple[str, str, str, int]], now_ms: int) -> None:
    """(product, customer, "interest" | "paid", ms): keep the latest time of each (a max, so
    any order and any repeat give the same rows)."""
    ddb = client("dynamodb")
    table = InterestItem.Meta.table_name
    expires = int((datetime.fromtimestamp(now_ms / 1000, UTC)
                   + timedelta(days=INTEREST_DAYS)).timestamp())
    latest: dict[tuple[str, str, str], int] = {}
    for product_id, customer_id, what, ms in rows:
        k = (product_id, customer_id, what)
        latest[k] = max(ms, latest.get(k, 0))
    for (product_id, customer_id, what), ms in latest.items():
        name = "interest_at" if what == "interest" else "paid_at"
        try:
            ddb.update_item(
                TableName=table,
                Key={"pk": {"S": _interest_pk(seller_id, product_id)},
                     "customer_id": {"S": customer_id}},
                UpdateExpression=f"SET {name} = :t, expires = :e",
                ConditionExpression=f"attribute_not_exists({name}) OR {name} < :t",
                ExpressionAttributeValues={":t": {"N": str(ms)}, ":e": {"N": str(expires)}})
        except ddb.exceptions.ConditionalCheckFailedException:
            pass


def interested(seller_id: str, product_id: str) -> Iterator[InterestItem]:
    """Every customer with a kept favourite/cart/paid time for the product (one partition)."""
    yield from InterestItem.query(_interest_pk(seller_id, product_id), consistent_read=True)
