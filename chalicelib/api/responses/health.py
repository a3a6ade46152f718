"""Bodies of /health and /openapi.json (api/health.py)."""

from __future__ import annotations

from typing import Any, Literal

from chalicelib.api.responses import ResponseModel


class Health(ResponseModel):
    status: Literal["ok"]


class OpenAPIDocument(ResponseModel):
    """An OpenAPI 3.1 document (https://spec.openapis.org/oas/v3.1.0)."""
    openapi: str
    info: dict[str, Any]
    paths: dict[str, Any]
    components: dict[str, Any]
