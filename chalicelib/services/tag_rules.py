"""Tag rules: kept per seller, applied to the customer of each matching event (behind the
events queue) and to every customer once a day. Changes are audited as ``rule:<rule_id>``.

Idempotent by construction: a rule sets tag membership, and adding a tag already there (or
removing one that is not) is no change, so a redelivered message writes and audits nothing.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable
from datetime import UTC, datetime

from chalicelib import audiences
from chalicelib.domain import aggregates
from chalicelib.domain import tag_rules as domain
from chalicelib.domain.aggregates import iso
from chalicelib.domain.errors import DomainError, Invalid, NotFound
from chalicelib.logs import get_logger, log
from chalicelib.services import tags as tag_service
from chalicelib.settings import settings
from chalicelib.store import customers as repo
from chalicelib.store import queues
from chalicelib.store import tag_rules as store
from chalicelib.store import tags as tag_store

logger = get_logger("tag_rules")


def view(rule: store.TagRuleItem, names: dict[str, str]) -> dict:
    condition = rule.condition
    if condition is not None:
        condition = audiences.display_form(condition, names)
    return {"rule_id": rule.rule_id, "name": rule.name, "trigger": rule.trigger,
            "condition": condition,
            "add": [names[t] for t in rule.add if t in names],
            "remove": [names[t] for t in rule.remove if t in names],
            "created_at": iso(int(rule.created_at)), "created_by": rule.created_by}


def create(seller_id: str, body: domain.TagRuleCreate, actor: str, now: datetime,
           rule_id: str | None = None) -> dict:
    """POST /v1/tag-rules: tag names and the condition are checked now (400 naming them).
    ``rule_id`` is for fixed ids (the demo shop); the API always makes a new one."""
    add, remove, names = tag_service.resolve(seller_id, body.add, body.remove)
    condition = body.condition
    if condition is not None:
        # The segment form's "use at least 3 conditions" advice does not apply to a rule's
        # condition, so its warnings are not passed on.
        catalogue = audiences.Catalogue(seller_id)
        condition, _ = audiences.validate_rule(seller_id, condition, path="condition",
                                              catalogue=catalogue)
        # Stored with tag ids, like saved segments, so renaming a tag keeps the rule working.
        condition = audiences.stored_form(condition, catalogue)
    trigger = body.trigger.model_dump()
    rule = store.TagRuleItem(seller_id=seller_id, rule_id=rule_id or f"rule_{uuid.uuid4().hex[:12]}",
                             name=body.name, trigger=trigger,
                             trigger_key=domain.trigger_key(trigger), condition=condition,
                             add=add, remove=remove, created_at=aggregates.to_ms(now),
                             created_by=actor)
    store.save(rule)
    return view(rule, names)


def list_rules(seller_id: str, limit: int, cursor: dict | None) -> tuple[list[dict], dict | None]:
    """Rules in the order they apply (oldest first), paginated by position."""
    start = (cursor or {}).get("o", 0)
    if not isinstance(start, int) or start < 0:
        raise Invalid("cursor is not valid", [{"path": "cursor", "message": "invalid cursor"}])
    rules = store.rules_of(seller_id)
    names = tag_store.names_by_id(seller_id)
    page = [view(r, names) for r in rules[start:start + limit]]
    return page, ({"o": start + limit} if start + limit < len(rules) else None)


def get_rule(seller_id: str, rule_id: str) -> dict:
    rule = store.get(seller_id, rule_id)
    if rule is None:
        raise NotFound(f"tag rule '{rule_id}' not found")
    return view(rule, tag_store.names_by_id(seller_id))


def delete(seller_id: str, rule_id: str) -> None:
    rule = store.get(seller_id, rule_id)
    if rule is None:
        raise NotFound(f"tag rule '{rule_id}' not found")
    store.delete(rule)


# ----- running rules ----------------------------------------------------------------------

def _compiled(seller_id: str, rules: list[store.TagRuleItem], now: datetime
              ) -> dict[str, Callable[[repo.CustomerItem], bool]]:
    """rule_id -> condition predicate. A rule whose condition no longer compiles (a segment or
    tag it names was deleted) is left out and logged, so it cannot block the queue."""
    out: dict[str, Callable[[repo.CustomerItem], bool]] = {}
    for rule in rules:
        if rule.condition is None:
            out[rule.rule_id] = lambda _item: True
            continue
        try:
            out[rule.rule_id] = audiences.compile_rule(seller_id, rule.condition, now)
        except DomainError as exc:
            log(logger, "tag rule condition no longer valid; skipped", seller_id=seller_id,
                rule_id=rule.rule_id, error=exc.message)
    return out


def _apply(seller_id: str, customer_id: str, rules: list[store.TagRuleItem],
           checks: dict[str, Callable], live: dict[str, str], now_ms: int, reason: str,
           item: repo.CustomerItem | None = None) -> list[tag_store.TagAuditItem]:
    actions = [domain.RuleAction(r.rule_id, tuple(r.add), tuple(r.remove))
               for r in rules if r.rule_id in checks]
    if not actions:
        return []

    def change(customer: repo.CustomerItem) -> list[domain.Change] | None:
        after, changes = domain.run_rules(customer.tags, actions,
                                          lambda a: checks[a.rule_id](customer), set(live))
        if not changes:
            return None
        customer.tags, customer.updated_at = after or None, now_ms
        return changes

    _, changes = tag_service.update_customer(seller_id, customer_id, change, item)
    return [tag_store.audit_entry(seller_id, now_ms, f"rule:{c.rule_id}", c.action,
                                  live.get(c.tag_id, c.tag_id), c.tag_id, customer_id, reason)
            for c in changes or []]


def on_events(seller_id: str, events: list[dict], now: datetime) -> None:
    """Subscriber of the events queue: event rules run on the customer of each matching event,
    checked against the customer as stored (the event already counts)."""
    rules = [r for r in store.rules_of(seller_id) if r.trigger_key != store.DAILY]
    if not rules:
        return
    types_of: dict[str, set[str]] = defaultdict(set)
    for event in events:
        if event.get("customer_id"):
            types_of[event["customer_id"]].add(event["type"])
    wanted = {r.trigger["event"] for r in rules}
    types_of = {c: t for c, t in types_of.items() if t & wanted}
    if not types_of:
        return
    checks = _compiled(seller_id, rules, now)
    live = tag_store.names_by_id(seller_id)
    now_ms = aggregates.to_ms(now)

    def one(customer_id: str) -> list[tag_store.TagAuditItem]:
        fired = [r for r in rules if r.trigger["event"] in types_of[customer_id]]
        reason = "on " + ", ".join(sorted({r.trigger["event"] for r in fired}))
        return _apply(seller_id, customer_id, fired, checks, live, now_ms, reason)

    entries = [e for batch in tag_service.parallel(one, sorted(types_of)) for e in batch]
    tag_store.write_audit(entries)
    if entries:
        log(logger, "event tag rules applied", seller_id=seller_id, changes=len(entries))


def run_daily(seller_id: str, now: datetime) -> dict:
    """Every daily rule of one seller over every customer: {rules, customers, updated, changes}."""
    rules = [r for r in store.rules_of(seller_id) if r.trigger_key == store.DAILY]
    if not rules:
        return {"rules": 0, "customers": 0, "updated": 0, "changes": 0}
    checks = _compiled(seller_id, rules, now)
    live = tag_store.names_by_id(seller_id)
    now_ms = aggregates.to_ms(now)
    actions = [domain.RuleAction(r.rule_id, tuple(r.add), tuple(r.remove))
               for r in rules if r.rule_id in checks]
    # Decide on the items as they stream in (only the customers to change are kept); those
    # are written, and re-checked on the fresh copy if they moved meanwhile.
    live_ids, seen, due = set(live), 0, []
    for c in repo.scan_seller(seller_id):
        seen += 1
        if domain.run_rules(c.tags, actions, lambda a, c=c: checks[a.rule_id](c), live_ids)[1]:
            due.append(c)
    batches = tag_service.parallel(
        lambda c: _apply(seller_id, c.customer_id, rules, checks, live, now_ms, "daily rule", c),
        due)
    entries = [e for batch in batches for e in batch]
    tag_store.write_audit(entries)
    summary = {"rules": len(rules), "customers": seen,
               "updated": sum(1 for b in batches if b), "changes": len(entries)}
    log(logger, "daily tag rules ran", seller_id=seller_id, **summary)
    return summary


class DailyRunBusy(Exception):
    """Another invocation holds a live claim on this seller's run of the day: retry later."""


def queue_daily(now: datetime, sellers: list[str] | None = None) -> dict:
    """The scheduled job: one message per seller with daily rules (from the index, not a scan)
    on the daily queue, so each seller runs in its own invocation and a large or failing
    seller delays nobody else. ``sellers`` narrows it (the local jobs runner)."""
    day = now.astimezone(UTC).date().isoformat()
    ids = store.sellers_with_daily_rules() if sellers is None else sellers
    queues.send_batch("daily", [domain.DailyRunMessage(seller_id=s, day=day).model_dump()
                                for s in ids])
    log(logger, "daily tag rules queued", sellers=len(ids), day=day)
    return {"day": day, "queued": len(ids)}


def handle_daily_message(body: str, now: datetime) -> None:
    """One record of the daily queue."""
    message = domain.DailyRunMessage.model_validate_json(body)
    run_daily_once(message.seller_id, message.day, now)


def run_daily_once(seller_id: str, day: str, now: datetime) -> dict:
    """One seller's daily rules for ``day``, at most once however often the message comes:
    a done run returns its summary; a run another invocation holds raises ``DailyRunBusy``
    (the message comes back later); a crashed run's claim is taken over once its lease ends."""
    done = store.get_run(seller_id, day)
    if done is not None and done.status == "done":
        log(logger, "daily tag rules already ran", seller_id=seller_id, day=day)
        return done.summary
    now_ms = aggregates.to_ms(now)
    claim = store.claim_run(seller_id, day, now_ms, settings().daily_run_lease_seconds * 1000)
    if claim is None:
        current = store.get_run(seller_id, day)
        if current is not None and current.status == "done":
            return current.summary
        raise DailyRunBusy(f"daily run of {seller_id} on {day} is held by another invocation")
    try:
        summary = run_daily(seller_id, now)
    except Exception:
        store.release_run(claim)
        raise
    store.finish_run(claim, summary)
    return summary
