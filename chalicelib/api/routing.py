"""The route decorator: auth, parsing, error contract and the OpenAPI registry in one place.

A view declares its role, body, query and response models (and the domain errors it may
raise); it receives a ``Principal`` and validated models, calls one service function and
returns a body (or a ``Reply``), which leaves through the response model.

    @endpoint(bp, "/v1/customers/{customer_id}", "GET", role="viewer",
              response="customers.Customer")
    def get_customer(p, customer_id):
        return customers.get(p.seller_id, customer_id)
"""

from __future__ import annotations

import base64
import inspect
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from chalice import Response
from pydantic import BaseModel, ValidationError

from chalicelib.api.auth import Principal, authenticate, require
from chalicelib.api.responses import model as response_model
from chalicelib.domain.aggregates import iso
from chalicelib.domain.errors import DomainError, Invalid, validation_details
from chalicelib.domain.ids import check_id
from chalicelib.logs import get_logger

logger = get_logger("api")
JSON_TYPES = ["application/json"]
# Deeper than any model needs (a rule of 12 levels is about 30), shallow enough that nothing
# downstream — validation, rule parsing, json.dumps of a stored body — can run out of stack.
MAX_JSON_DEPTH = 64


@dataclass
class Reply:
    body: Any
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class RouteSpec:
    path: str
    method: str
    name: str
    summary: str
    role: str | None
    body: type[BaseModel] | None
    query: type[BaseModel] | None
    response: str | None         # the response model's name in chalicelib/api/responses
    statuses: tuple[int, ...]    # the success statuses; the first is the default
    errors: tuple[int, ...]      # every error status the route can answer
    content_types: list[str]

    @property
    def response_model(self) -> type[BaseModel] | None:
        return response_model(self.response) if self.response else None


ROUTES: list[RouteSpec] = []


def _default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, datetime | date):
        return iso(value)
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json")
    if isinstance(value, set | frozenset):
        return sorted(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")


def json_response(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    if isinstance(body, BaseModel):
        body = body.model_dump(mode="json")
    text = json.dumps(body, default=_default, ensure_ascii=False)
    return Response(body=text, status_code=status,
                    headers={"Content-Type": "application/json", **(headers or {})})


def error_body(code: str, message: str, details: list | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or []}}


def error_response(exc: DomainError) -> Response:
    return json_response(error_body(exc.code, exc.message, exc.details), exc.status, exc.headers)


def json_depth(value: Any, limit: int) -> int:
    """How deeply ``value`` nests (a scalar is 0, ``[]`` is 1), counted without recursion and
    given up as soon as it passes ``limit``."""
    deepest = 0
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if deepest > limit:
            return deepest
        children = node.values() if isinstance(node, dict) else node
        stack.extend((c, depth + 1) for c in children if isinstance(c, dict | list))
    return deepest


class TooDeep(ValueError):
    """A JSON document nested deeper than allowed."""


def load_json(raw: bytes | str, limit: int = MAX_JSON_DEPTH) -> Any:
    """json.loads that refuses (TooDeep) a document nested deeper than ``limit``. The C
    decoder stops at the interpreter's recursion limit with RecursionError; that becomes
    the same refusal instead of a 500."""
    try:
        data = json.loads(raw)
    except RecursionError:
        raise TooDeep(f"nested deeper than {limit} levels") from None
    if json_depth(data, limit) > limit:
        raise TooDeep(f"nested deeper than {limit} levels")
    return data


def parse_json(raw: bytes | None) -> Any:
    if not raw:
        raise Invalid("request body is empty; a JSON object is required",
                      [{"path": "", "message": "body required"}])
    try:
        return load_json(raw)
    except TooDeep as exc:
        raise Invalid(f"the JSON body is {exc}", [{"path": "", "message": str(exc)}]) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid(f"malformed JSON: {exc}", [{"path": "", "message": "malformed JSON"}]) from exc


def validate(model: type[BaseModel], data: Any, prefix: str = "") -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise Invalid("request is not valid", validation_details(exc, prefix)) from exc


def serialise(name: str | None, body: Any) -> Any:
    """The body as the response model ``name`` describes it: validated (a field the model
    does not know, or a value of the wrong type, is an error, never a silent difference from
    /openapi.json) and dumped with exactly the keys the service's value has, nulls kept, so
    nothing changes on the wire. An instance of the model is valid already: dumped whole."""
    if name is None:
        return body
    model = response_model(name)
    if isinstance(body, model):
        return body.model_dump(mode="json", by_alias=True)
    return model.model_validate(body).model_dump(mode="json", by_alias=True, exclude_unset=True)


def error_statuses(method: str, role: str | None, path_ids: list[str],
                   declared: tuple[int, ...]) -> tuple[int, ...]:
    """The error statuses a route can answer: what the decorator itself gives, plus the
    domain errors the route declares. 400 for every route (a request whose Content-Type the
    route does not take is refused before the view; a bad body, query or id too), 401/403
    with a role, 404 with a path id (not for PUT, which creates what is not there)."""
    codes = {400, *declared}
    if role is not None:
        codes |= {401, 403}
    if path_ids and method != "PUT":
        codes.add(404)
    return tuple(sorted(codes))


def encode_cursor(state: dict | None) -> str | None:
    if state is None:
        return None
    raw = json.dumps(state, separators=(",", ":"), default=_default).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> dict | None:
    if not cursor:
        return None
    try:
        pad = "=" * (-len(cursor) % 4)
        state = load_json(base64.urlsafe_b64decode(cursor + pad), limit=8)
        if not isinstance(state, dict):
            raise ValueError("not an object")
        return state
    except (ValueError, UnicodeDecodeError) as exc:
        raise Invalid("cursor is not valid", [{"path": "cursor", "message": "invalid cursor"}]) from exc


def endpoint(bp: Any, path: str, method: str, *, role: str | None = "viewer",
             body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
             response: str | None = None, status: int | tuple[int, ...] = 200,
             errors: tuple[int, ...] = (), content_types: list[str] | None = None,
             raw_body: bool = False, summary: str = "") -> Callable:
    """Register a Chalice route with auth, validation and the error contract around it.

    ``response``: the name of the model every success body leaves through (``serialise``),
    e.g. ``"customers.Customer"`` of chalicelib/api/responses/customers.py, imported on the
    route's first answer; a route without one answers with no body (204). ``status``: the
    success status, or all of them (``(200, 201)``: the first is the default, a ``Reply``
    picks another). ``errors``: the statuses of the domain errors the route's code may raise
    (409, 412, 413, 429...); the ones the decorator gives itself are added by
    ``error_statuses``."""

    path_ids = re.findall(r"{(\w+)}", path)   # every path parameter is an id
    statuses = (status,) if isinstance(status, int) else tuple(status)

    def decorate(fn: Callable) -> Callable:
        wants_request = "request" in inspect.signature(fn).parameters

        def view(**params: str) -> Response:
            request = bp.current_request
            try:
                principal: Principal | None = None
                if role is not None:
                    principal = authenticate((request.headers or {}).get("authorization"))
                    require(principal, role)
                for name in path_ids:   # before any key is built from them: bad -> 400
                    check_id(params.get(name), name)
                kwargs: dict[str, Any] = {}
                if body is not None:
                    kwargs["body"] = validate(body, parse_json(request.raw_body))
                elif raw_body:
                    kwargs["raw"] = request.raw_body or b""
                if query is not None:
                    # `?segment_id=&limit=` means "not given", as front ends send empty fields
                    given = {k: v for k, v in (request.query_params or {}).items() if v != ""}
                    kwargs["query"] = validate(query, given)
                if wants_request:
                    kwargs["request"] = request
                result = fn(principal, **params, **kwargs) if role is not None else fn(**params, **kwargs)
                if isinstance(result, Response):
                    return result
                if isinstance(result, Reply):
                    return json_response(serialise(response, result.body), result.status,
                                         result.headers)
                return json_response(serialise(response, result), statuses[0])
            except DomainError as exc:
                return error_response(exc)
            except Exception:  # never a stack trace in a body
                logger.exception("unhandled error", extra={"fields": {"path": path, "method": method}})
                return json_response(error_body("internal", "internal error"), 500)

        view.__name__ = fn.__name__
        view.__doc__ = fn.__doc__
        types = content_types or JSON_TYPES
        bp.route(path, methods=[method], content_types=types)(view)
        ROUTES.append(RouteSpec(path, method, fn.__name__, summary or (fn.__doc__ or "").strip(),
                                role, body, query, response, statuses,
                                error_statuses(method, role, path_ids, errors), types))
        return fn

    return decorate
