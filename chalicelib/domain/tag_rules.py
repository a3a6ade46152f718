"""Tag rules (SPEC.md §3): what a rule looks like, and how the rules that hold for one
customer change that customer's tags. Pure: conditions arrive already compiled."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from chalicelib.domain.events import CUSTOMER_EVENT_TYPES
from chalicelib.domain.tags import NameList

CustomerEventType = Literal[tuple(sorted(CUSTOMER_EVENT_TYPES))]  # type: ignore[valid-type]


class EventTrigger(BaseModel):
    model_config = ConfigDict(extra="ignore")
    event: CustomerEventType


class DailyTrigger(BaseModel):
    model_config = ConfigDict(extra="ignore")
    daily: Literal[True]


class TagRuleCreate(BaseModel):
    """Body of POST /v1/tag-rules. ``condition`` is a rule of the segment grammar, checked
    against the customer as stored after the event counts (or at the daily run)."""
    model_config = ConfigDict(extra="ignore")
    name: Annotated[str, Field(min_length=1, max_length=100)]
    trigger: EventTrigger | DailyTrigger
    condition: dict[str, Any] | None = None
    add: NameList = []
    remove: NameList = []

    @field_validator("trigger", mode="before")
    @classmethod
    def _one_trigger(cls, value: Any) -> Any:
        # Pick the trigger's shape by its key, so a bad one gets one clear message instead
        # of an error per union member.
        if not isinstance(value, dict) or len(value) != 1 or not {"event", "daily"} & set(value):
            raise ValueError('trigger must be {"event": TYPE} or {"daily": true}')
        if "daily" in value:
            if value["daily"] is not True:
                raise ValueError('a daily trigger is {"daily": true}')
            return DailyTrigger(daily=True)
        if not isinstance(value["event"], str) or value["event"] not in CUSTOMER_EVENT_TYPES:
            raise ValueError(f"unknown customer event type {value['event']!r} (one of "
                             f"{', '.join(sorted(CUSTOMER_EVENT_TYPES))})")
        return EventTrigger(event=value["event"])

    @model_validator(mode="after")
    def _does_something(self) -> TagRuleCreate:
        if not self.add and not self.remove:
            raise ValueError("a rule must add or remove at least one tag")
        return self


class DailyRunMessage(BaseModel):
    """One record of the daily queue: run this seller's daily rules for this UTC day."""
    model_config = ConfigDict(extra="ignore")
    seller_id: Annotated[str, Field(min_length=1, max_length=128)]
    day: Annotated[str, Field(pattern=r"^\d{4}-\d{2}-\d{2}$")]


def trigger_key(trigger: dict) -> str:
    """'daily' or 'event:<type>'."""
    return "daily" if trigger.get("daily") else f"event:{trigger['event']}"


@dataclass(frozen=True)
class RuleAction:
    rule_id: str
    add: tuple[str, ...]
    remove: tuple[str, ...]


@dataclass(frozen=True)
class Change:
    rule_id: str
    tag_id: str
    action: str   # added | removed


def run_rules(current: Iterable[str] | None, rules: list[RuleAction],
              holds: Callable[[RuleAction], bool], live_tags: set[str]
              ) -> tuple[set[str], list[Change]]:
    """Apply, in order, every rule whose condition holds; returns the final tag set and one
    change per tag whose state differs from before, credited to the last rule that set it.
    A tag removed in one rule and re-added by the next is no change (nothing to audit);
    tag ids no longer in ``live_tags`` (deleted tags) are skipped."""
    before = set(current or ())
    after = set(before)
    author: dict[str, str] = {}
    for rule in rules:
        if not holds(rule):
            continue
        for tag_id in rule.remove:
            if tag_id in live_tags:
                after.discard(tag_id)
                author[tag_id] = rule.rule_id
        for tag_id in rule.add:
            if tag_id in live_tags:
                after.add(tag_id)
                author[tag_id] = rule.rule_id
    changes = [Change(author[t], t, "added") for t in sorted(after - before)]
    changes += [Change(author[t], t, "removed") for t in sorted(before - after)]
    return after, changes
