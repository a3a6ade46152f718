"""Tag rules, per seller, plus an index of the sellers that have daily rules so the daily job
reads only those sellers' rules instead of scanning every seller, and the record of each
seller's daily run (claimed with a lease, then done) so a day's run happens once."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from pynamodb.attributes import (
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)

from chalicelib.store.base import BaseModel, get_or_none, landed, meta

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
    return get_or_none(TagRuleItem, seller_id, rule_id)


def save(rule: TagRuleItem) -> None:
    rule.save()
    if rule.trigger_key == DAILY:
        RuleIndexItem(kind=DAILY, seller_id=rule.seller_id).save()


def delete(rule: TagRuleItem) -> None:
    landed(lambda: rule.delete(condition=TagRuleItem.rule_id.exists()))
    # The index entry stays: removing it when the last daily rule goes could race with a
    # new daily rule being created; a seller left without daily rules costs the job one query.


def sellers_with_daily_rules() -> list[str]:
    return [i.seller_id for i in RuleIndexItem.query(DAILY)]


# ----- daily runs --------------------------------------------------------------------------

RUN_KEPT_DAYS = 14


class DailyRunItem(BaseModel):
    """One seller's daily run on one (UTC) day: ``running`` under a lease, then ``done`` with
    its summary. A duplicated message, or a second trigger the same day, finds it."""
    Meta = meta("tag_rule_runs")
    seller_id = UnicodeAttribute(hash_key=True)
    day = UnicodeAttribute(range_key=True)          # YYYY-MM-DD
    status = UnicodeAttribute()                     # running | done
    lease_until = NumberAttribute(default=0)        # ms; a running claim older than this is free
    summary = JSONAttribute(null=True)              # {rules, customers, updated, changes}
    expires = TTLAttribute(null=True)


def get_run(seller_id: str, day: str) -> DailyRunItem | None:
    return get_or_none(DailyRunItem, seller_id, day)


def claim_run(seller_id: str, day: str, now_ms: int, lease_ms: int) -> DailyRunItem | None:
    """Take the day's run when nobody has it or its holder's lease ran out; None otherwise
    (done, or held by a live invocation)."""
    item = DailyRunItem(seller_id=seller_id, day=day, status="running",
                        lease_until=now_ms + lease_ms,
                        expires=datetime.fromtimestamp(now_ms / 1000, UTC)
                        + timedelta(days=RUN_KEPT_DAYS))
    free = DailyRunItem.seller_id.does_not_exist() | (
        (DailyRunItem.status == "running") & (DailyRunItem.lease_until < now_ms))
    return item if landed(lambda: item.save(condition=free)) else None


def _update_claimed(item: DailyRunItem, actions: list) -> bool:
    return landed(lambda: item.update(actions=actions, condition=(DailyRunItem.status == "running")
                                      & (DailyRunItem.lease_until == item.lease_until)))


def finish_run(item: DailyRunItem, summary: dict) -> bool:
    """Record the run as done, if the claim is still ours (False when another took it over)."""
    return _update_claimed(item, [DailyRunItem.status.set("done"),
                                  DailyRunItem.summary.set(summary)])


def release_run(item: DailyRunItem) -> bool:
    """Give the claim up after a failure, so the retry need not wait for the lease."""
    return _update_claimed(item, [DailyRunItem.lease_until.set(0)])
