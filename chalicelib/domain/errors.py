"""Domain exceptions; the API maps each to one status of the error contract (and a pydantic
error to its ``details``)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError


class DomainError(Exception):
    status = 400
    code = "validation_error"

    def __init__(self, message: str, details: list[dict[str, Any]] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.details = details or []
        self.headers = headers or {}


class Invalid(DomainError):
    status, code = 400, "validation_error"


class Unauthorized(DomainError):
    status, code = 401, "unauthorized"


class Forbidden(DomainError):
    status, code = 403, "forbidden"


class NotFound(DomainError):
    status, code = 404, "not_found"


class Conflict(DomainError):
    status, code = 409, "conflict"


class KeptChanging(Conflict):
    """A read-modify-write lost every attempt to concurrent writers: 409, never a 500."""


class PreconditionFailed(DomainError):
    status, code = 412, "precondition_failed"


class TooLarge(DomainError):
    status, code = 413, "too_large"


class RateLimited(DomainError):
    status, code = 429, "rate_limited"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message, headers={"Retry-After": str(max(1, int(retry_after)))})


def loc_path(loc: tuple) -> str:
    """('events', 0, 'amount') -> 'events[0].amount'."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def validation_details(exc: ValidationError, prefix: str = "") -> list[dict]:
    """The error contract's ``details`` of a pydantic error: one entry per problem, each
    naming its field by path (``events[0].amount``)."""
    details = []
    for err in exc.errors(include_url=False, include_context=False):
        path = loc_path(tuple(err["loc"]))
        if prefix:
            path = f"{prefix}.{path}" if path else prefix
        details.append({"path": path, "message": err["msg"], "type": err["type"]})
    return details
