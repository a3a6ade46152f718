"""Domain exceptions; the API maps each to one status of the error contract."""

from __future__ import annotations

from typing import Any


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
