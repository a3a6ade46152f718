"""Tag rules, per seller, plus an index of the sellers that have daily rules so the daily job
reads only those sellers' rules instead of scanning every seller."""

from __future__ import annotations

from pynamodb.attributes import JSONAttribute, ListAttribute, NumberAttribute, UnicodeAttribute
from pynamodb.exceptions import DeleteError

from chalicelib.store.base import BaseModel, is_conditional_failure, meta

DAILY = "daily"


class TagRuleItem(BaseModel):
    Meta = meta("tag_rules")
    seller_id = UnicodeAttribute(hash_key=True)
    rule_id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    trigger = JSONAttribute()                 # {"event": TYPE} | {"daily": true}
    trigger_key = UnicodeAttribute()          # "daily" | "event:<type>"
    condition = JSONAttribute(null=True)      # a rule of the segment grammar
    add = ListAttribute(default=list)         # tag ids: a rename keeps the rule working
    remove = ListAttribute(default=list)
    created_at = NumberAttribute(default=0)
    created_by = UnicodeAttribute(null=True)


class RuleIndexItem(BaseModel):
    Meta = meta("tag_rule_index")
    kind = UnicodeAttribute(hash_key=True)    # "daily"
    seller_id = UnicodeAttribute(range_key=True)


def rules_of(seller_id: str) -> list[TagRuleItem]:
    """Every rule of a seller, oldest first (the order they apply in)."""
    rules = list(TagRuleItem.query(seller_id, consistent_read=True))
    return sorted(rules, key=lambda r: (r.created_at, r.rule_id))


def get(seller_id: str, rule_id: str) -> TagRuleItem | None:
    try:
        return TagRuleItem.get(seller_id, rule_id, consistent_read=True)
    except TagRuleItem.DoesNotExist:
        return None


def save(rule: TagRuleItem) -> None:
    rule.save()
    if rule.trigger_key == DAILY:
        RuleIndexItem(kind=DAILY, seller_id=rule.seller_id).save()


def delete(rule: TagRuleItem) -> None:
    try:
        rule.delete(condition=TagRuleItem.rule_id.exists())
    except DeleteError as exc:
        if not is_conditional_failure(exc):
            raise
    # The index entry stays: removing it when the last daily rule goes could race with a
    # new daily rule being created; a seller left without daily rules costs the job one query.


def sellers_with_daily_rules() -> list[str]:
    return [i.seller_id for i in RuleIndexItem.query(DAILY)]
