"""Chalice's local gateway, made to behave like API Gateway in front of the app.

- Like API Gateway, Chalice's local server answers a path no route matches with 403
  "Missing Authentication Token" — and echoes the Authorization header into the body. On
  AWS, infra/ maps that gateway response to a 404 in the contract; this does the same.
- API Gateway hands path parameters to the function percent-decoded
  (``/v1/customers/phone%3A%2B66812345678`` → ``phone:+66812345678``); Chalice's matcher
  passes them on raw, so they are decoded here (once: a literal ``+`` stays a ``+``).
- Any HTTP method reaches the app, which answers one no route takes with 405 in the error
  contract; ``http.server`` would answer methods it has no handler for (TRACE) with an
  HTML 501.
"""

from __future__ import annotations

import functools
import json
from typing import Any
from urllib.parse import unquote

from chalice.local import (
    ChaliceRequestHandler,
    ForbiddenError,
    LocalGateway,
    LocalGatewayException,
)

NO_ROUTE_BODY = json.dumps({"error": {"code": "not_found", "message": "no such route",
                                      "details": []}}).encode()


class NoSuchRoute(LocalGatewayException):
    CODE = 404


class ContractGateway(LocalGateway):
    def _generate_lambda_event(self, method: str, path: str, headers: Any, body: Any) -> Any:
        event = super()._generate_lambda_event(method, path, headers, body)
        event["pathParameters"] = {name: unquote(value, errors="replace")
                                   for name, value in (event["pathParameters"] or {}).items()}
        return event

    def handle_request(self, method: str, path: str, headers: Any, body: Any) -> Any:
        try:
            return super().handle_request(method, path, headers, body)
        except ForbiddenError:   # we use no Chalice authorizers: this is "no route matched"
            raise NoSuchRoute({"Content-Type": "application/json"}, NO_ROUTE_BODY) from None


class ContractRequestHandler(ChaliceRequestHandler):
    def __init__(self, request: Any, client_address: Any, server: Any, app_object: Any,
                 config: Any) -> None:
        self.local_gateway = ContractGateway(app_object, config)
        super(ChaliceRequestHandler, self).__init__(request, client_address, server)

    def __getattr__(self, name: str) -> Any:
        # http.server looks up do_<METHOD>; every method goes to the app (405 there).
        if name.startswith("do_"):
            return self._generic_handle
        raise AttributeError(name)


def use_contract_gateway(dev_server: Any, app: Any, config: Any) -> None:
    dev_server.server.RequestHandlerClass = functools.partial(
        ContractRequestHandler, app_object=app, config=config)
