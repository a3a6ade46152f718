"""Tags: definitions (owner/admin), assignments on one customer or in bulk, the audit log,
usage by plans and the health report. Every change of a tag or an assignment is audited."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any, TypeVar

from chalicelib import audiences
from chalicelib.domain import aggregates
from chalicelib.domain import tags as domain
from chalicelib.domain.aggregates import iso
from chalicelib.domain.errors import Conflict, Invalid, NotFound, PreconditionFailed
from chalicelib.logs import get_logger, log
from chalicelib.store import customers as repo
from chalicelib.store import tags as store
from chalicelib.store.versioning import VersionConflict, retry_on_conflict

logger = get_logger("tags")
WRITERS = 16
T = TypeVar("T")


def view(item: store.TagItem) -> dict:
    return {"tag_id": item.tag_id, "name": item.name, "dimension": item.dimension,
            "color": item.color, "kind": item.kind, "description": item.description,
            "created_at": iso(int(item.created_at)), "updated_at": iso(int(item.updated_at)),
            "version": item.version}


# ----- customer writes shared by assignments, bulk, imports and rules ---------------------

def update_customer(seller_id: str, customer_id: str,
                    change: Callable[[repo.CustomerItem], T | None],
                    item: repo.CustomerItem | None = None,
                    create: Callable[[], repo.CustomerItem] | None = None
                    ) -> tuple[repo.CustomerItem | None, T | None]:
    """Read-modify-write with the version check: ``change`` edits the item and returns what
    changed (falsy: nothing to write). On a conflict the item is re-read and ``change`` runs
    again on the fresh copy. Without ``create``, a missing customer gives (None, None)."""
    first = item

    def attempt(n: int) -> tuple[repo.CustomerItem | None, T | None]:
        current = first if first is not None and n == 0 else repo.get(seller_id, customer_id)
        if current is None:
            if create is None:
                return None, None
            current = create()
        result = change(current)
        if result:
            repo.save(current)
        return current, result

    return retry_on_conflict(attempt, what=f"customer '{customer_id}'")


def retag(item: repo.CustomerItem, add: list[str], remove: list[str], now_ms: int
          ) -> tuple[list[str], list[str]] | None:
    """Edit an item's tag set in place; (added, removed) or None when nothing changes."""
    after, added, removed = domain.apply_change(item.tags, add, remove)
    if not added and not removed:
        return None
    item.tags = after or None   # DynamoDB sets cannot be empty
    item.updated_at = now_ms
    return added, removed


def audit_changes(seller_id: str, at_ms: int, actor: str, customer_id: str,
                  added: list[str], removed: list[str], names: dict[str, str],
                  reason: str | None) -> list[store.TagAuditItem]:
    return ([store.audit_entry(seller_id, at_ms, actor, "added", names.get(t, t), t,
                               customer_id, reason) for t in added]
            + [store.audit_entry(seller_id, at_ms, actor, "removed", names.get(t, t), t,
                                 customer_id, reason) for t in removed])


def parallel(fn: Callable[[Any], T], items: list) -> list[T]:
    if len(items) <= 1:
        return [fn(i) for i in items]
    with ThreadPoolExecutor(max_workers=WRITERS) as pool:
        return list(pool.map(fn, items))


# ----- definitions ------------------------------------------------------------------------

def tags_by_norm(seller_id: str) -> dict[str, str]:
    return {t.norm: t.tag_id for t in store.all_tags(seller_id)}


def resolve(seller_id: str, add: list[str], remove: list[str]
            ) -> tuple[list[str], list[str], dict[str, str]]:
    """Tag ids for the names to add and remove; 400 naming every unknown name."""
    tags = store.all_tags(seller_id)
    by_norm = {t.norm: t.tag_id for t in tags}
    add_ids, bad = domain.resolve_names(add, by_norm, "add")
    remove_ids, bad_remove = domain.resolve_names(remove, by_norm, "remove")
    bad += bad_remove + domain.overlap_details(add_ids, remove_ids)
    if bad:
        raise Invalid("; ".join(d["message"] for d in bad), bad)
    return add_ids, remove_ids, {t.tag_id: t.name for t in tags}


def list_tags(seller_id: str, limit: int, cursor: dict | None) -> tuple[list[dict], dict | None]:
    after = (cursor or {}).get("after")
    if after is not None and not isinstance(after, str):
        raise Invalid("cursor is not valid", [{"path": "cursor", "message": "invalid cursor"}])
    items, last = store.page(seller_id, limit, after)
    return [view(t) for t in items], ({"after": last} if last else None)


def get_tag(seller_id: str, tag_id: str) -> dict:
    return view(_existing(seller_id, tag_id))


def _existing(seller_id: str, tag_id: str) -> store.TagItem:
    item = store.get(seller_id, tag_id)
    if item is None:
        raise NotFound(f"tag '{tag_id}' not found")
    return item


def _claim(seller_id: str, norm: str, tag_id: str, name: str) -> None:
    try:
        store.claim_name(seller_id, norm, tag_id)
    except store.Taken as exc:
        other = store.get(seller_id, exc.tag_id) if exc.tag_id else None
        raise Conflict(f"a tag named '{other.name if other else name}' already exists (names "
                       "are compared ignoring case and spaces)",
                       [{"path": "name", "message": "duplicate name"}]) from None


def create(seller_id: str, body: domain.TagCreate, actor: str, now: datetime) -> dict:
    now_ms = aggregates.to_ms(now)
    tag_id = f"tag_{uuid.uuid4().hex[:12]}"
    norm = domain.norm_name(body.name)
    _claim(seller_id, norm, tag_id, body.name)
    item = store.TagItem(seller_id=seller_id, tag_id=tag_id, name=body.name, norm=norm,
                         dimension=body.dimension,
                         color=body.color or domain.default_color(body.dimension),
                         kind=body.kind, description=body.description, created_at=now_ms,
                         updated_at=now_ms, created_by=actor)
    store.save(item)
    store.write_audit([store.audit_entry(seller_id, now_ms, actor, "created", body.name, tag_id)])
    log(logger, "tag created", seller_id=seller_id, tag_id=tag_id)
    return view(item)


def update(seller_id: str, tag_id: str, body: domain.TagPatch, expected: int | None,
           actor: str, now: datetime) -> dict:
    """PATCH: a rename keeps every assignment (they hold the id); If-Match -> 412 if stale."""
    fields = body.model_dump(exclude_unset=True)
    for key in ("name", "dimension", "kind"):
        if key in fields and fields[key] is None:
            raise Invalid(f"{key} cannot be null", [{"path": key, "message": "cannot be null"}])

    def attempt(_: int) -> tuple[store.TagItem, tuple[str, str] | None]:
        item = _existing(seller_id, tag_id)
        if expected is not None and expected != item.version:
            raise PreconditionFailed(f"version {expected} is stale; current is {item.version}")
        if all(getattr(item, key) == value for key, value in fields.items()):
            return item, None   # nothing differs: no write, no audit line
        old_name, old_norm = item.name, item.norm
        new_norm = domain.norm_name(fields["name"]) if "name" in fields else old_norm
        if new_norm != old_norm:
            _claim(seller_id, new_norm, tag_id, fields["name"])
        for key, value in fields.items():
            setattr(item, key, value)
        if "dimension" in fields and "color" not in fields:
            item.color = domain.default_color(item.dimension)   # the colour follows its dimension
        item.norm, item.updated_at = new_norm, aggregates.to_ms(now)
        if not store.save(item):
            now_held = store.get(seller_id, tag_id)
            if new_norm != old_norm and (now_held is None or now_held.norm != new_norm):
                store.release_name(seller_id, new_norm, tag_id)   # unless the winner took it
            raise VersionConflict(tag_id)
        return item, (old_name, old_norm)

    item, before = retry_on_conflict(attempt, what=f"tag '{tag_id}'", if_match=expected)
    if before is None:
        return view(item)
    old_name, old_norm = before
    if item.norm != old_norm:
        store.release_name(seller_id, old_norm, tag_id)
    renamed = item.name != old_name
    store.write_audit([store.audit_entry(
        seller_id, item.updated_at, actor, "renamed" if renamed else "updated", item.name, tag_id,
        reason=f"renamed from '{old_name}'" if renamed else None)])
    return view(item)


def delete(seller_id: str, tag_id: str, expected: int | None, actor: str, now: datetime) -> None:
    """Delete a tag and remove it from every customer (each removal audited); If-Match -> 412
    if stale."""
    item = _existing(seller_id, tag_id)
    if expected is not None and expected != item.version:
        raise PreconditionFailed(f"version {expected} is stale; current is {item.version}")
    now_ms = aggregates.to_ms(now)
    # The definition goes first: from then on names_by_id no longer shows the tag anywhere,
    # so a crash while stripping leaves only invisible ids, which a re-run would not need.
    store.delete(item)
    store.release_name(seller_id, item.norm, tag_id)
    store.forget_usage(seller_id, tag_id)
    holders = [c for c in repo.scan_seller(seller_id) if tag_id in (c.tags or ())]

    def strip(customer: repo.CustomerItem) -> list[store.TagAuditItem]:
        _, change = update_customer(seller_id, customer.customer_id,
                                    lambda c: retag(c, [], [tag_id], now_ms), customer)
        if not change:
            return []
        return audit_changes(seller_id, now_ms, actor, customer.customer_id, [], change[1],
                             {tag_id: item.name}, "tag deleted")

    entries = [e for batch in parallel(strip, holders) for e in batch]
    entries.append(store.audit_entry(seller_id, now_ms, actor, "deleted", item.name, tag_id,
                                     reason=f"removed from {len(entries)} customers"))
    store.write_audit(entries)
    log(logger, "tag deleted", seller_id=seller_id, tag_id=tag_id, unassigned=len(entries) - 1)


# ----- assignments ------------------------------------------------------------------------

def change_customer(seller_id: str, customer_id: str, body: domain.TagChange, actor: str,
                    now: datetime) -> dict:
    """POST /v1/customers/{id}/tags: returns the customer's tags after the change."""
    add, remove, names = resolve(seller_id, body.add, body.remove)
    now_ms = aggregates.to_ms(now)
    item, change = update_customer(seller_id, customer_id,
                                   lambda c: retag(c, add, remove, now_ms))
    if item is None:
        raise NotFound(f"customer '{customer_id}' not found")
    added, removed = change or ([], [])
    store.write_audit(audit_changes(seller_id, now_ms, actor, customer_id, added, removed,
                                    names, body.reason))
    return {"customer_id": customer_id,
            "tags": sorted(names[t] for t in (item.tags or ()) if t in names),
            "added": [names[t] for t in added], "removed": [names[t] for t in removed]}


def bulk(seller_id: str, body: domain.BulkChange, actor: str, now: datetime) -> dict:
    """POST /v1/tags/bulk: {matched, updated} (updated: customers whose tags changed)."""
    add, remove, names = resolve(seller_id, body.add, body.remove)
    rule, _ = audiences.validate_rule(seller_id, body.filter, path="filter")
    now_ms = aggregates.to_ms(now)
    matched = audiences.matching_ids(seller_id, rule, now)

    def one(customer_id: str) -> list[store.TagAuditItem] | None:
        _, change = update_customer(seller_id, customer_id,
                                    lambda c: retag(c, add, remove, now_ms))
        if not change:
            return None
        return audit_changes(seller_id, now_ms, actor, customer_id, *change, names,
                             body.reason)

    results = parallel(one, matched)
    store.write_audit([e for entries in results if entries for e in entries])
    updated = sum(1 for r in results if r)
    log(logger, "bulk tag change", seller_id=seller_id, matched=len(matched), updated=updated)
    return {"matched": len(matched), "updated": updated}


# ----- usage, audit, health ---------------------------------------------------------------

def record_usage(seller_id: str, tag_names: list[str], now: datetime) -> None:
    """A plan was sent with these tags in its audience filter (unknown names are ignored):
    they are not silent for the next 30 days."""
    by_norm = tags_by_norm(seller_id)
    ids = sorted({by_norm[n] for n in map(domain.norm_name, tag_names) if n in by_norm})
    store.mark_used(seller_id, ids, aggregates.to_ms(now))


def audit(seller_id: str, limit: int, cursor: dict | None) -> tuple[list[dict], dict | None]:
    before = (cursor or {}).get("before")
    if before is not None and not isinstance(before, str):
        raise Invalid("cursor is not valid", [{"path": "cursor", "message": "invalid cursor"}])
    rows, last = store.audit_page(seller_id, limit, before)
    for row in rows:
        row["at"] = iso(row["at"])
    return rows, ({"before": last} if last else None)


def health(seller_id: str, now: datetime) -> dict:
    """GET /v1/tags/health: silent, oversized and stale tags, near-duplicates, guidance."""
    now_ms = aggregates.to_ms(now)
    tags = store.all_tags(seller_id)
    total, per_tag = audiences.tag_tally(seller_id, now_ms - domain.STALE_DAYS * aggregates.DAY_MS, now)
    return domain.health([(t.tag_id, t.name) for t in tags], total, per_tag,
                         store.last_used(seller_id), now_ms)
