"""Maps the answers Chalice gives by itself (bad JSON, 415, 405, unknown route) to the
error contract, so no failure leaves in another shape."""

from __future__ import annotations

import json

from chalice import Response

from chalicelib.api.routing import error_body, json_response

_BY_STATUS = {
    400: ("validation_error", 400),
    403: ("not_found", 404),        # API Gateway's "Missing Authentication Token" = no such route
    404: ("not_found", 404),
    405: ("method_not_allowed", 405),
    415: ("validation_error", 400),
    413: ("too_large", 413),
}


def contract(event, get_response) -> Response:
    response = get_response(event)
    status = response.status_code
    if status < 400 or status not in _BY_STATUS:
        return response
    body = response.body
    if isinstance(body, bytes | str):
        try:
            body = json.loads(body)
        except ValueError:
            body = None
    if isinstance(body, dict) and "error" in body:
        return response
    code, new_status = _BY_STATUS[status]
    message = (body or {}).get("Message") or (body or {}).get("message") if isinstance(body, dict) else None
    if status == 415:
        message = f"unsupported content type: {message or 'send application/json'}"
    # A 405 names the methods the route does take (RFC 9110; schemathesis checks it).
    keep = {k: v for k, v in (response.headers or {}).items() if k.lower() == "allow"}
    return json_response(error_body(code, message or code.replace("_", " ")), new_status, keep)
