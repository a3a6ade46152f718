"""Bodies of the tag routes (api/tags.py)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from chalicelib.api.responses import ResponseModel, Time, page_of
from chalicelib.domain.tags import Dimension, Kind


class Tag(ResponseModel):
    tag_id: str
    name: str
    dimension: Dimension
    color: str = Field(description="#RRGGBB")
    kind: Kind
    description: str | None
    created_at: Time
    updated_at: Time
    version: int


TagPage = page_of(Tag)


class CustomerTags(ResponseModel):
    """A customer's tags after a change, and what the change did."""
    customer_id: str
    tags: list[str] = Field(description="every tag name the customer has now, sorted")
    added: list[str]
    removed: list[str]


class BulkResult(ResponseModel):
    matched: int = Field(description="customers the filter matched")
    updated: int = Field(description="customers whose tags changed")


class TagAuditEntry(ResponseModel):
    at: Time
    actor: str = Field(description='a user id, or "rule:<rule_id>" for a tag rule')
    action: Literal["created", "renamed", "updated", "deleted", "added", "removed"]
    tag: str = Field(description="the tag's name when it happened")
    tag_id: str
    customer_id: str | None
    reason: str | None


TagAuditEntryPage = page_of(TagAuditEntry)


class TagGuidance(ResponseModel):
    level: Literal["few", "starter", "growing", "mature", "large", "too_many"]
    message: str
    start: list[int]
    mature: list[int]
    hard_above: int


class SilentTag(ResponseModel):
    tag: str
    customers: int
    last_used_at: Time | None


class OversizedTag(ResponseModel):
    tag: str
    share: float
    customers: int


class StaleTag(ResponseModel):
    tag: str
    customers: int


class TagUsage(ResponseModel):
    tag: str
    tag_id: str
    customers: int
    share: float = Field(description="of all customers, 0–1")
    last_used_at: Time | None


class TagHealth(ResponseModel):
    """GET /v1/tags/health (domain/tags.health builds it)."""
    tag_count: int
    guidance: TagGuidance
    customers: int
    silent: list[SilentTag]
    oversized: list[OversizedTag]
    stale: list[StaleTag]
    near_duplicates: list[list[str]] = Field(description="pairs of names")
    tags: list[TagUsage]
