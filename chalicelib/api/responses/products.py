"""Bodies of the product routes (api/products.py)."""

from __future__ import annotations

from chalicelib.api.responses import Amount, ResponseModel, Time, page_of


class Product(ResponseModel):
    product_id: str
    name: str
    price: Amount
    currency: str
    image_url: str | None
    stock: int | None
    version: int
    created_at: Time
    updated_at: Time


ProductPage = page_of(Product)
