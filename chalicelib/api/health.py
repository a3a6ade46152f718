"""Routes: health and the OpenAPI document (no auth)."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.openapi import document
from chalicelib.api.routing import endpoint

bp = Blueprint(__name__)


@endpoint(bp, "/health", "GET", role=None, response="health.Health")
def health():
    """Liveness."""
    return {"status": "ok"}


@endpoint(bp, "/openapi.json", "GET", role=None, response="health.OpenAPIDocument")
def openapi():
    """The OpenAPI 3 document of every route."""
    return document()
