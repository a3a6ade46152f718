"""Plans table: one item per plan, optimistic locking on ``version``, status moves by
conditional writes so concurrent senders, cancellers and workers cannot cross.

A plan in ``in_progress`` also carries ``sweep`` and ``in_progress_since``, the keys of the
sparse index ``by_in_progress``: every status move sets them when it enters ``in_progress``
and removes them when it leaves, so the sweeper (delivery/sweeper.py) finds every plan
sending since before a cutoff with one Query, however many plans the table holds."""

from __future__ import annotations

import time
from typing import Any

from pynamodb.attributes import (
    JSONAttribute,
    ListAttribute,
    NumberAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection

from chalicelib.store.base import BaseModel, get_or_none, landed, meta, sorted_page
from chalicelib.store.versioning import VersionConflict, conditional_save  # noqa: F401  (repo.VersionConflict)

IN_PROGRESS = "in_progress"


class ByInProgress(GlobalSecondaryIndex):
    """Sparse: only plans now ``in_progress`` have ``sweep`` (always "in_progress")."""

    class Meta:
        index_name = "by_in_progress"
        projection = KeysOnlyProjection()

    sweep = UnicodeAttribute(hash_key=True)
    in_progress_since = NumberAttribute(range_key=True)


class PlanItem(BaseModel):
    Meta = meta("plans")
    seller_id = UnicodeAttribute(hash_key=True)
    plan_id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    kind = UnicodeAttribute()                       # one_off | automated | order_notice
    status = UnicodeAttribute()                     # draft | scheduled | in_progress | sent | cancelled | active | paused | ended
    audience = JSONAttribute(null=True)             # {segment_ids, tags, exclude_segment_ids}
    channels = ListAttribute(default=list)
    content = JSONAttribute(null=True)
    voucher = JSONAttribute(null=True)
    product_ids = ListAttribute(default=list)
    button = JSONAttribute(null=True)
    trigger = JSONAttribute(null=True)
    send_at = NumberAttribute(null=True)            # ms, UTC
    warnings = ListAttribute(default=list)
    extra = JSONAttribute(null=True)                # anything else a kind needs
    created_at = NumberAttribute(default=0)
    updated_at = NumberAttribute(default=0)
    dispatched_at = NumberAttribute(null=True)
    finished_at = NumberAttribute(null=True)
    cancelled_at = NumberAttribute(null=True)
    created_by = UnicodeAttribute(null=True)
    sweep = UnicodeAttribute(null=True)             # "in_progress" while sending, else absent
    in_progress_since = NumberAttribute(null=True)  # ms it entered in_progress (the sweeper's cutoff)
    version = VersionAttribute()
    by_in_progress = ByInProgress()


def get(seller_id: str, plan_id: str) -> PlanItem | None:
    return get_or_none(PlanItem, seller_id, plan_id)


def set_status(seller_id: str, plan_id: str, allowed_from: set[str], to: str,
               **fields: Any) -> PlanItem | None:
    """Move a plan to ``to`` only if its status is one of ``allowed_from`` (one conditional
    UpdateItem; bumps ``version``). Returns the updated plan, or None when the plan is not in
    an allowed status (or does not exist)."""
    plan = PlanItem(seller_id=seller_id, plan_id=plan_id, version=0)  # non-None: PynamoDB adds 1
    moved = landed(lambda: plan.update(
        actions=status_actions(to, fields), add_version_condition=False,
        condition=PlanItem.status.is_in(*allowed_from) & PlanItem.plan_id.exists()))
    return plan if moved else None


def status_actions(to: str, fields: dict[str, Any]) -> list[Any]:
    """The update actions of a move to ``to`` (PynamoDB increments ``version`` itself), for
    ``set_status`` and for a move written in one transaction with something else (billing)."""
    actions = [PlanItem.status.set(to)]
    actions += [getattr(PlanItem, name).set(value) for name, value in fields.items()]
    return actions + _sweep_index(to, fields)


def _sweep_index(to: str, fields: dict[str, Any]) -> list[Any]:
    """Enter or leave the sparse ``by_in_progress`` index with the status."""
    if to != IN_PROGRESS:
        return [PlanItem.sweep.remove(), PlanItem.in_progress_since.remove()]
    since = fields.get("dispatched_at") or fields.get("updated_at") or int(time.time() * 1000)
    return [PlanItem.sweep.set(IN_PROGRESS), PlanItem.in_progress_since.set(since)]


def in_progress_before(cutoff_ms: int) -> list[tuple[str, str, int]]:
    """(seller_id, plan_id, in_progress_since) of every plan in_progress since before
    ``cutoff_ms``, oldest first (one Query of the sparse index, eventually consistent)."""
    return [(p.seller_id, p.plan_id, int(p.in_progress_since)) for p in
            PlanItem.by_in_progress.query(IN_PROGRESS, PlanItem.in_progress_since < cutoff_ms)]


def create(item: PlanItem) -> None:
    """Write a new plan (its id is fresh, so the condition only guards a replay)."""
    item.save(condition=PlanItem.plan_id.does_not_exist())


def save(item: PlanItem) -> None:
    """Conditional on ``version`` (PynamoDB adds it); VersionConflict when stale."""
    conditional_save(item, item.plan_id)


def delete_if(seller_id: str, plan_id: str, statuses: set[str] | frozenset[str]) -> bool:
    """Delete a plan only while its status is one of ``statuses`` (so a concurrent send can
    never be deleted from under its workers); False when it is not."""
    return landed(lambda: PlanItem(seller_id=seller_id, plan_id=plan_id).delete(
        condition=PlanItem.status.is_in(*statuses), add_version_condition=False))


def page(seller_id: str, limit: int, before: str | None, kind: str | None = None,
         status: str | None = None) -> tuple[list[PlanItem], str | None]:
    """Newest first (plan ids are time-ordered), optionally of one kind and/or status;
    returns the plan id to continue before, or None at the end."""
    condition = None
    if kind is not None:
        condition = PlanItem.kind == kind
    if status is not None:
        condition = (PlanItem.status == status) if condition is None else (
            condition & (PlanItem.status == status))
    return sorted_page(PlanItem, seller_id, limit, before, newest_first=True,
                       filter_condition=condition)


def get_many(seller_id: str, plan_ids: list[str]) -> dict[str, PlanItem]:
    """plan_id -> plan, for the ids that exist (BatchGetItem, 100 keys a request)."""
    keys = [(seller_id, p) for p in dict.fromkeys(plan_ids)]
    out: dict[str, PlanItem] = {}
    for start in range(0, len(keys), 100):
        for item in PlanItem.batch_get(keys[start:start + 100], consistent_read=True):
            out[item.plan_id] = item
    return out
