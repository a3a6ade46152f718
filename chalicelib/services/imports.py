"""CSV/TXT import of customers and tags (SPEC.md §3): read and check the whole file first
(400/413 before anything is written), then take one of 3 hourly slots (429), then write.

Writing is idempotent row by row: a customer is matched by the id ``phone:<E.164>`` or by
phone (GSI), tags already present and names already set are no change, so re-importing a
file writes nothing and audits nothing (the import itself is still recorded and counted).
"""

from __future__ import annotations

import math
import uuid
from datetime import datetime

from chalicelib.domain import aggregates, importer
from chalicelib.domain.aggregates import iso
from chalicelib.domain.errors import Invalid, NotFound, RateLimited
from chalicelib.logs import get_logger, log
from chalicelib.services import tags as tag_service
from chalicelib.store import customers as repo
from chalicelib.store import imports as import_store
from chalicelib.store import shop_settings as shop_settings_store
from chalicelib.store import tags as tag_store

logger = get_logger("imports")
IMPORTS_PER_HOUR = 3
HOUR_MS = 3_600_000
SCAN_BUDGET = 10_000


def _shop_region(seller_id: str) -> str | None:
    """The shop's default region from its settings, if the settings say one."""
    try:
        return importer.check_region(getattr(shop_settings_store.in_force(seller_id), "default_region", None))
    except Invalid:   # a region the phone library does not know: treat as none
        return None


def _match_by_reading_all(seller_id: str, phones: list[str]) -> dict[str, repo.CustomerItem] | None:
    """For a shop of at most SCAN_BUDGET customers, reading them all (a few pages) is far
    cheaper than one phone-index query per row; None for larger shops."""
    items, more = repo.page(seller_id, SCAN_BUDGET)
    if more is not None:
        return None
    wanted = set(phones)
    by_id = {i.customer_id: i for i in items}
    by_phone = {i.phone: i for i in items if i.phone in wanted}
    return {p: by_id.get(f"phone:{p}") or by_phone[p] for p in phones
            if f"phone:{p}" in by_id or p in by_phone}


def _match(seller_id: str, phones: list[str]) -> dict[str, repo.CustomerItem]:
    """E.164 -> the seller's existing customer with it: first by the import id, then by the
    phone index for customers created elsewhere (PUT, events)."""
    small_shop = _match_by_reading_all(seller_id, phones)
    if small_shop is not None:
        return small_shop
    found = repo.batch_get(seller_id, [f"phone:{p}" for p in phones])
    matched = {p: found[f"phone:{p}"] for p in phones if f"phone:{p}" in found}
    rest = [p for p in phones if p not in matched]
    for phone, item in zip(rest, tag_service.parallel(
            lambda p: repo.by_phone(seller_id, p), rest), strict=True):
        if item is not None:
            matched[phone] = item
    return matched


def _write(seller_id: str, rows: list[importer.PlannedRow], import_id: str, actor: str,
           names: dict[str, str], now_ms: int) -> dict:
    matched = _match(seller_id, [r.phone for r in rows])
    reason = f"import {import_id}"

    def one(row: importer.PlannedRow) -> tuple[str, list[tag_store.TagAuditItem]]:
        known = matched.get(row.phone)
        customer_id = known.customer_id if known else f"phone:{row.phone}"

        def create() -> repo.CustomerItem:
            item = repo.new_item(seller_id, customer_id, now_ms)
            item.phone, item.seller_phone = row.phone, f"{seller_id}#{row.phone}"
            return item

        def change(item: repo.CustomerItem) -> tuple[str, list[str]] | None:
            created = item.version is None
            tagged = tag_service.retag(item, list(row.tag_ids), [], now_ms)
            named = bool(row.name) and not item.name   # never overwrite a name already known
            if named:
                item.name, item.updated_at = row.name, now_ms
            if not (created or tagged or named):
                return None
            return ("created" if created else "updated"), (tagged[0] if tagged else [])

        # A row with no match starts from a new item: its save is conditional on the id not
        # existing, so a customer created meanwhile is re-read and merged, not overwritten.
        _, outcome = tag_service.update_customer(seller_id, customer_id, change,
                                                 known or create(), create)
        if not outcome:
            return "unchanged", []
        status, added = outcome
        return status, tag_service.audit_changes(seller_id, now_ms, actor, customer_id, added,
                                                 [], names, reason)

    results = tag_service.parallel(one, rows)
    tag_store.write_audit([e for _, entries in results for e in entries])
    counts = {s: sum(1 for status, _ in results if status == s)
              for s in ("created", "updated", "unchanged")}
    return {"customers_created": counts["created"], "customers_updated": counts["updated"],
            "unchanged": counts["unchanged"],
            "tags_added": sum(len(entries) for _, entries in results)}


def run(seller_id: str, raw: bytes, default_region: str | None, actor: str, now: datetime
        ) -> dict:
    """POST /v1/imports: the report (rows, imported, failed, duplicates, errors, tags_ignored)."""
    region = importer.check_region(default_region) or _shop_region(seller_id)
    tags = tag_store.all_tags(seller_id)
    plan = importer.parse(raw, region, {t.norm: t.tag_id for t in tags})
    now_ms = aggregates.to_ms(now)
    if import_store.take_slot(seller_id, "imports", IMPORTS_PER_HOUR, HOUR_MS, now_ms) is None:
        wait = import_store.wait_ms(seller_id, "imports", IMPORTS_PER_HOUR, now_ms)
        raise RateLimited(f"at most {IMPORTS_PER_HOUR} imports per hour; try again later",
                          math.ceil(wait / 1000))
    import_id = f"imp_{now_ms:013d}_{uuid.uuid4().hex[:8]}"
    written = _write(seller_id, plan.accepted, import_id, actor,
                     {t.tag_id: t.name for t in tags}, now_ms)
    report = {"import_id": import_id, **plan.report(), **written, "default_region": region,
              "created_at": iso(now_ms)}
    import_store.save_import(seller_id, import_id, now_ms, actor, "done", report)
    log(logger, "import done", seller_id=seller_id, import_id=import_id, rows=plan.rows,
        imported=len(plan.accepted), failed=len(plan.failures), duplicates=len(plan.duplicates))
    return report


def get(seller_id: str, import_id: str) -> dict:
    found = import_store.get_import(seller_id, import_id)
    if found is None or found[1] is None:
        raise NotFound(f"import '{import_id}' not found")
    return found[1]
