"""OpenAPI 3.1 document built from the route registry and the pydantic models routes declare,
so the description and the validation cannot drift apart: request bodies from the models
that validate them, success bodies from the models they leave through, and for each route
only the error statuses it can answer (routing.error_statuses)."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from chalicelib.api.routing import ROUTES, RouteSpec
from chalicelib.domain.events import EVENT_ADAPTER
from chalicelib.domain.ids import ID_ADAPTER

ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["code", "message", "details"],
                             "properties": {"code": {"type": "string"},
                                            "message": {"type": "string"},
                                            "details": {"type": "array", "items": {}}}}},
}
REF = "#/components/schemas/{model}"
ERRORS = {400: "validation_error", 401: "unauthorized", 403: "forbidden", 404: "not_found",
          409: "conflict", 412: "precondition_failed", 413: "too_large", 429: "rate_limited",
          402: "insufficient_balance"}
SUCCESS = {200: "OK", 201: "created", 202: "accepted", 204: "no content"}
RETRY_AFTER = {"Retry-After": {"required": True, "description": "seconds to wait",
                               "schema": {"type": "integer", "minimum": 1}}}


def _model_schemas(routes: list[RouteSpec]) -> tuple[dict[tuple[type[BaseModel], str], dict],
                                                      dict[str, Any]]:
    """Every request model (as it validates) and response model (as it serialises) in one
    pass, so a model used by both, or by several routes, is one component."""
    pairs: dict[tuple[type[BaseModel], JsonSchemaMode], None] = {}
    for route in routes:
        if route.body is not None:
            pairs[(route.body, "validation")] = None
        if route.response_model is not None:
            pairs[(route.response_model, "serialization")] = None
    refs, top = models_json_schema(list(pairs), ref_template=REF)
    return refs, top.get("$defs", {})


def _error(status: int) -> dict:
    out: dict[str, Any] = {"description": ERRORS[status], "content": {
        "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    if status == 429:
        out["headers"] = RETRY_AFTER
    return out


def document() -> dict:
    refs, defs = _model_schemas(ROUTES)
    components: dict[str, Any] = {"Error": ERROR_SCHEMA, **defs}
    event_schema = EVENT_ADAPTER.json_schema(ref_template=REF)
    components.update(event_schema.pop("$defs", {}))
    components["Event"] = event_schema
    paths: dict[str, dict] = {}
    for route in ROUTES:
        op: dict[str, Any] = {"operationId": route.name, "summary": route.summary.split("\n")[0]}
        params = [{"name": n, "in": "path", "required": True, "schema": ID_ADAPTER.json_schema()}
                  for n in re.findall(r"{(\w+)}", route.path)]
        if route.query is not None:
            qs = route.query.model_json_schema()
            for name, prop in qs.get("properties", {}).items():
                params.append({"name": name, "in": "query",
                               "required": name in qs.get("required", []), "schema": prop})
        if params:
            op["parameters"] = params
        if route.body is not None:
            op["requestBody"] = {"required": True, "content": {
                "application/json": {"schema": refs[(route.body, "validation")]}}}
        elif route.content_types != ["application/json"]:
            op["requestBody"] = {"required": True, "content": {
                ct: {"schema": {"type": "string"}} for ct in route.content_types}}
        responses: dict[str, Any] = {}
        for status in route.statuses:
            responses[str(status)] = {"description": SUCCESS[status]}
            if route.response_model is not None:
                responses[str(status)]["content"] = {"application/json": {
                    "schema": refs[(route.response_model, "serialization")]}}
        for status in route.errors:
            responses[str(status)] = _error(status)
        op["responses"] = responses
        if route.role is not None:
            op["security"] = [{"bearer": []}]
            op["x-min-role"] = route.role
        paths.setdefault(route.path, {})[route.method.lower()] = op
    # Events are validated one by one (a bad one is rejected alone), so the batch model takes
    # plain objects; the document still says what each must be.
    components["EventBatch"]["properties"]["events"]["items"] = {"$ref": "#/components/schemas/Event"}
    return {
        "openapi": "3.1.0",
        "info": {"title": "Seller CRM", "version": "1.0.0"},
        "paths": paths,
        "components": {"schemas": components, "securitySchemes": {
            "bearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}}},
    }
