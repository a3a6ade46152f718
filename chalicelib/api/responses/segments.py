"""Bodies of the segment routes (api/segments.py)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chalicelib.api.responses import RULE_DOC, Amount, Json, ResponseModel, Time, omitted, page_of


class Segment(ResponseModel):
    """A built-in or custom segment (ETag = version)."""
    segment_id: str
    name: str
    rule: dict[str, Any] = Field(description=RULE_DOC)
    builtin: bool
    version: int
    warnings: list[str] = Field(description="advice on the rule; never a refusal")
    created_at: Time | None = Field(description="null for built-ins")
    updated_at: Time | None
    size: int = omitted(description="GET /v1/segments items: its members now (read-your-writes)")


SegmentPage = page_of(Segment)


class SegmentPreview(ResponseModel):
    size: int
    sample: list[str] = Field(description="customer ids")
    warnings: list[str]


class SegmentMember(ResponseModel):
    customer_id: str


SegmentMemberPage = page_of(SegmentMember)


class SegmentInsights(ResponseModel):
    """Who the members are now, and their orders over the last ``window_days``."""
    segment_id: str
    size: int
    follower_share: float = Field(description="0–1")
    gender: dict[str, int]
    age_bands: dict[str, int]
    regions: dict[str, int]
    languages: dict[str, int]
    orders: int
    gmv: Amount
    aov: Amount
    price_bands: dict[str, int]
    window_days: int


class ExplainedCondition(ResponseModel):
    path: str = Field(description='where the node is in the rule, e.g. "all[1]"; "" for the root')
    condition: dict[str, Any]
    held: bool
    saw: Json = Field(description="the value or count the condition compared")
    explained_at: str = omitted(description="a reused segment met again: the path where it "
                                            "was explained")


class Explanation(ResponseModel):
    segment_id: str
    customer_id: str
    member: bool
    conditions: list[ExplainedCondition]
