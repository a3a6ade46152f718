"""Bodies of the tag rule routes (api/tag_rules.py)."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from chalicelib.api.responses import ResponseModel, Time, page_of


class TagRule(ResponseModel):
    rule_id: str
    name: str
    trigger: dict[str, Any] = Field(description='{"event": TYPE} or {"daily": true}')
    condition: dict[str, Any] | None = Field(description="a rule of the segment grammar")
    add: list[str] = Field(description="tag names")
    remove: list[str]
    created_at: Time
    created_by: str | None


TagRulePage = page_of(TagRule)


class DailyRunSummary(ResponseModel):
    rules: int
    customers: int = Field(description="customers examined")
    updated: int = Field(description="customers whose tags changed")
    changes: int = Field(description="tag additions and removals")
