"""PLACEHOLDER in the audience branch: the stream branch brings the real module (same names)."""

from __future__ import annotations

from dataclasses import dataclass

from chalicelib.store.customers import CustomerItem

MARGIN_MS = 60_000


@dataclass(frozen=True)
class Snapshot:
    seller_id: str
    files: list[str]
    marks: dict[int, int]
    latest_ms: int | None


def current(seller_id: str) -> Snapshot | None:
    return None


def changed_since(seller_id: str, marks: dict[int, int]) -> list[CustomerItem]:
    raise NotImplementedError
