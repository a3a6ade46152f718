"""The response models: one per success body, one module per route module of chalicelib/api
(a route of api/customers.py answers with a model of api/responses/customers.py).

A route names its model (``@endpoint(..., response="customers.Customer")``); the decorator
validates the service's value through it and sends what it dumps, so the OpenAPI document
and what a route returns cannot drift apart. The models are HTTP-only (services return
plain dicts) and are imported on a route's first answer, not at cold start: defined
eagerly, their fifty-odd classes cost the cold import about 30 ms (docs/openapi.md).

This module holds what the models are made of."""

from __future__ import annotations

import importlib
from functools import cache
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, create_model

# How request and response models describe a rule field in the OpenAPI document.
RULE_DOC = "A rule of the segment grammar (docs/segments.md): all / any / not, segment, attr, event, tags."


class ResponseModel(BaseModel):
    """A response body: exactly these fields. A field a service returns that the model does
    not know is refused (a 500 the tests catch), never silently dropped or undocumented.
    ``defer_build``: a validator is built on its first use."""
    model_config = ConfigDict(extra="forbid", defer_build=True)


# Times leave as ISO-8601 UTC strings ending in Z, money as decimal strings: the services
# already format them, so the models check and describe them without re-formatting.
Time = Annotated[str, WithJsonSchema({"type": "string", "format": "date-time",
                                      "examples": ["2026-11-22T10:00:00Z"]})]
Amount = Annotated[str, Field(description="a decimal number as a string", examples=["129.90"])]
Json = Any   # a value of any JSON type


def _no_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def omitted(**kwargs: Any) -> Any:
    """A field left out of the body when it has no value (never sent as null): not required
    in the document, and the decorator keeps only the keys the service's value has."""
    return Field(default=None, json_schema_extra=_no_default, **kwargs)


def page_of(item: type[BaseModel]) -> type[ResponseModel]:
    """The list envelope of API.md "Lists" for one resource: ``<Item>Page``."""
    return create_model(f"{item.__name__}Page", __base__=ResponseModel,
                        __doc__=f"A page of {item.__name__} items; next_cursor null on the last.",
                        __module__=item.__module__,
                        items=(list[item], ...), next_cursor=(str | None, ...))


@cache
def model(name: str) -> type[BaseModel]:
    """The model a route names: ``"customers.Customer"`` is ``Customer`` of
    chalicelib/api/responses/customers.py."""
    module, _, attr = name.rpartition(".")
    found = getattr(importlib.import_module(f"{__name__}.{module}"), attr)
    if not (isinstance(found, type) and issubclass(found, BaseModel)):
        raise TypeError(f"{name} is not a pydantic model")
    return found
