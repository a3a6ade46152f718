"""Products: create/replace, read, list."""

from __future__ import annotations

from datetime import datetime

from chalicelib.domain import aggregates
from chalicelib.domain.aggregates import iso
from chalicelib.domain.errors import NotFound
from chalicelib.domain.vouchers import ProductPut
from chalicelib.store import products as repo
from chalicelib.store.versioning import retry_on_conflict


def product_view(item: repo.ProductItem) -> dict:
    return {"product_id": item.product_id, "name": item.name, "price": item.price,
            "currency": item.currency, "image_url": item.image_url,
            "stock": int(item.stock) if item.stock is not None else None,
            "version": item.version, "created_at": iso(item.created_at),
            "updated_at": iso(item.updated_at)}


def put_product(seller_id: str, product_id: str, body: ProductPut, now: datetime
                ) -> tuple[dict, bool]:
    """Create or replace a product; returns (product, created)."""
    now_ms = aggregates.to_ms(now)

    def attempt(_: int) -> tuple[repo.ProductItem, bool]:
        # A concurrent PUT: ours is applied on top of it (PUT replaces anyway).
        item = repo.get_product(seller_id, product_id)
        created = item is None
        if item is None:
            item = repo.ProductItem(seller_id=seller_id, product_id=product_id, created_at=now_ms)
        item.name, item.price, item.currency = body.name, str(body.price), body.currency
        item.image_url, item.stock, item.updated_at = body.image_url, body.stock, now_ms
        repo.save_product(item)
        return item, created

    item, created = retry_on_conflict(attempt, what=f"product '{product_id}'")
    return product_view(item), created


def get_product(seller_id: str, product_id: str) -> dict:
    item = repo.get_product(seller_id, product_id) if len(product_id) <= 128 else None
    if item is None:
        raise NotFound(f"product '{product_id}' not found")
    return product_view(item)


def list_products(seller_id: str, limit: int, after: str | None) -> tuple[list[dict], str | None]:
    items, nxt = repo.products_page(seller_id, limit, after)
    return [product_view(i) for i in items], nxt

