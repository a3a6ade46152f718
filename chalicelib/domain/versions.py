"""Optimistic locking: a stale If-Match version is refused (412)."""

from __future__ import annotations

from chalicelib.domain.errors import PreconditionFailed


def check_version(expected: int | None, actual: int) -> None:
    if expected is not None and expected != actual:
        raise PreconditionFailed(f"version {expected} is stale; current is {actual}")
