"""Audience exports (docs/segments.md, "Audience export"): the hashed form ad platforms take
for custom audiences, and the rules of an export's life. Pure: no clock, no AWS."""

from __future__ import annotations

import hashlib
from typing import Literal

from pydantic import BaseModel, ConfigDict

FORMATS = ("hashed_phone",)
Format = Literal["hashed_phone"]
HEADER = "phone_sha256"
# The bucket's lifecycle rule deletes an export's file this many days after it was written
# (infra/build.py); the export's record expires with it (its TTL, and reads past it are 404).
EXPIRY_DAYS = 7
EXPIRY_MS = EXPIRY_DAYS * 86_400_000
# How long a download URL stays valid.
URL_SECONDS = 3600


def phone_sha256(e164: str) -> str:
    """The lowercase SHA-256 hex of an E.164 number without its ``+`` ("+6591234567" ->
    sha256("6591234567")). Stored phones are E.164 already (domain/customers.normalise_phone);
    anything else is refused rather than hashed into a line no platform will match."""
    digits = e164[1:] if e164.startswith("+") else e164
    if not (digits.isascii() and digits.isdigit() and 1 <= len(digits) <= 15):
        raise ValueError("not an E.164 number")
    return hashlib.sha256(digits.encode("ascii")).hexdigest()


def line(e164: str) -> str:
    """One line of the CSV (a hex digest needs no quoting)."""
    return phone_sha256(e164) + "\n"


def object_key(seller_id: str, export_id: str) -> str:
    """Where an export's CSV lives: fixed by the export, so a re-run writes the same object."""
    return f"exports/{seller_id}/{export_id}.csv"


def expired(created_ms: int, now_ms: int) -> bool:
    """Past the lifecycle rule's age: its file is gone (or about to be), so it is not found."""
    return now_ms >= created_ms + EXPIRY_MS


class ExportMessage(BaseModel):
    """One message of the exports queue: write this export's file."""
    model_config = ConfigDict(extra="forbid")
    seller_id: str
    export_id: str
