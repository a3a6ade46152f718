"""OpenAPI 3.1 document built from the route registry and the pydantic models routes declare,
so the description and the validation cannot drift apart."""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel

from chalicelib.api.routing import ROUTES
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
ERRORS = {"400": "validation_error", "401": "unauthorized", "403": "forbidden",
          "404": "not_found", "409": "conflict", "412": "precondition_failed",
          "413": "too_large", "429": "rate_limited"}


def _schema(model: type[BaseModel], components: dict[str, Any]) -> dict:
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
    for name, sub in schema.pop("$defs", {}).items():
        components[name] = sub
    components[model.__name__] = schema
    return {"$ref": f"#/components/schemas/{model.__name__}"}


def document() -> dict:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    event_schema = EVENT_ADAPTER.json_schema(ref_template="#/components/schemas/{model}")
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
                "application/json": {"schema": _schema(route.body, components)}}}
        elif route.content_types != ["application/json"]:
            op["requestBody"] = {"required": True, "content": {
                ct: {"schema": {"type": "string"}} for ct in route.content_types}}
        ok: dict[str, Any] = {"description": "success"}
        if route.response is not None:
            ok["content"] = {"application/json": {"schema": _schema(route.response, components)}}
        op["responses"] = {str(route.status): ok}
        for status, code in ERRORS.items():
            op["responses"][status] = {"description": code, "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
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
