"""Products table (per seller): the products plans attach to messages."""

from __future__ import annotations

from pynamodb.attributes import (
    NumberAttribute,
    UnicodeAttribute,
    VersionAttribute,
)

from chalicelib.store.base import BaseModel, get_or_none, meta, sorted_page
from chalicelib.store.versioning import VersionConflict, conditional_save  # noqa: F401  (repo.VersionConflict)


class ProductItem(BaseModel):
    Meta = meta("products")
    seller_id = UnicodeAttribute(hash_key=True)
    product_id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    price = UnicodeAttribute()                 # decimal string, e.g. "129.90"
    currency = UnicodeAttribute()
    image_url = UnicodeAttribute(null=True)
    stock = NumberAttribute(null=True)
    created_at = NumberAttribute(default=0)
    updated_at = NumberAttribute(default=0)
    version = VersionAttribute()


def get_product(seller_id: str, product_id: str) -> ProductItem | None:
    return get_or_none(ProductItem, seller_id, product_id)


def get_products(seller_id: str, ids: list[str]) -> dict[str, ProductItem]:
    """product_id -> product for those of ``ids`` that exist (one BatchGetItem per 100)."""
    keys = [(seller_id, pid) for pid in dict.fromkeys(ids)]
    if not keys:
        return {}
    return {p.product_id: p for p in ProductItem.batch_get(keys, consistent_read=True)}


def save_product(item: ProductItem) -> None:
    conditional_save(item, item.product_id)


def products_page(seller_id: str, limit: int, after: str | None) -> tuple[list[ProductItem], str | None]:
    return sorted_page(ProductItem, seller_id, limit, after)

