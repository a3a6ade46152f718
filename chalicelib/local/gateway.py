"""Chalice's local gateway, answering unmatched paths in the error contract.

Like API Gateway, Chalice's local server answers a path no route matches with 403
"Missing Authentication Token" — and echoes the Authorization header into the body. On AWS,
infra/ maps that gateway response to a 404 in the contract; this does the same locally."""

from __future__ import annotations

import functools
import json
from typing import Any

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


def use_contract_gateway(dev_server: Any, app: Any, config: Any) -> None:
    dev_server.server.RequestHandlerClass = functools.partial(
        ContractRequestHandler, app_object=app, config=config)
