"""Routes: products."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.common import ListQuery, cursor_id, now, versioned
from chalicelib.api.routing import encode_cursor, endpoint
from chalicelib.domain.vouchers import ProductPut

bp = Blueprint(__name__)
# Each route imports its service inside: a service loads PynamoDB and boto3, which app.py's
# cold import must not (measured: docs/architecture.md, "Layers").


@endpoint(bp, "/v1/products/{product_id}", "PUT", role="operator", body=ProductPut,
          response="products.Product", status=(200, 201), errors=(409,))
def put_product(p, product_id, body):
    """Create (201) or replace (200) a product."""
    from chalicelib.services import products

    product, created = products.put_product(p.seller_id, product_id, body, now())
    return versioned(product, 201 if created else 200)


@endpoint(bp, "/v1/products/{product_id}", "GET", response="products.Product")
def get_product(p, product_id):
    """One product."""
    from chalicelib.services import products

    product = products.get_product(p.seller_id, product_id)
    return versioned(product)


@endpoint(bp, "/v1/products", "GET", query=ListQuery, response="products.ProductPage")
def list_products(p, query):
    """Products by id, paginated."""
    from chalicelib.services import products

    items, nxt = products.list_products(p.seller_id, query.limit, cursor_id(query.cursor))
    return {"items": items, "next_cursor": encode_cursor({"a": nxt} if nxt else None)}

