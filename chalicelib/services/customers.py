"""Customer profiles: create/update, read with stats and built-in segments, list."""

from __future__ import annotations

from datetime import datetime

from chalicelib import audiences
from chalicelib.domain import aggregates, builtins
from chalicelib.domain.customers import (
    PROFILE_FIELDS,
    CustomerPut,
    normalise_phone,
    usable_customer_id,
    view,
)
from chalicelib.domain.errors import Invalid, NotFound
from chalicelib.domain.ids import ID_RULE
from chalicelib.domain.versions import check_version
from chalicelib.store import customers as repo
from chalicelib.store import shop_settings as shop_settings_store
from chalicelib.store import tags as tag_store
from chalicelib.store.versioning import retry_on_conflict


def tag_names_of(seller_id: str, items: list) -> dict[str, list[str]]:
    """customer_id -> tag names (tags are stored by id so a rename keeps assignments)."""
    ids = {t for item in items for t in (item.tags or ())}
    names = tag_store.names_by_id(seller_id, ids) if ids else {}
    return {item.customer_id: [names[t] for t in (item.tags or ()) if t in names] for item in items}


def render(item: repo.CustomerItem, now: datetime, tag_names: list[str]) -> dict:
    agg = item.agg or aggregates.empty()
    profile = {f: getattr(item, f) for f in PROFILE_FIELDS}
    if profile["age"] is not None:
        profile["age"] = int(profile["age"])
    out = view(item.customer_id, profile, agg, tag_names,
               builtins.memberships(agg, aggregates.to_ms(now)))
    out["version"] = item.version
    return out


def put(seller_id: str, customer_id: str, body: CustomerPut, now: datetime,
        expected_version: int | None = None) -> tuple[dict, bool]:
    """Apply the given fields; returns (customer, created). With ``expected_version`` (If-Match)
    a stale version is refused with 412 instead of retried."""
    if not usable_customer_id(customer_id):
        raise Invalid(f"customer_id is not valid: {ID_RULE}",
                      [{"path": "customer_id", "message": ID_RULE}])
    fields = body.model_dump(exclude_unset=True)
    if fields.get("phone"):
        try:
            fields["phone"] = normalise_phone(fields["phone"],
                                              shop_settings_store.in_force(seller_id).default_region)
        except ValueError as exc:
            raise Invalid(f"phone: {exc}", [{"path": "phone", "message": str(exc)}]) from None
    now_ms = aggregates.to_ms(now)

    def attempt(_: int) -> tuple[repo.CustomerItem, bool]:
        item = repo.get(seller_id, customer_id)
        created = item is None
        if expected_version is not None:
            check_version(expected_version, 0 if item is None else item.version)
        if item is None:
            item = repo.new_item(seller_id, customer_id, now_ms)
        for name, value in fields.items():
            setattr(item, name, value)
        if "phone" in fields:
            item.seller_phone = f"{seller_id}#{item.phone}" if item.phone else None
        item.updated_at = now_ms
        repo.save(item)
        return item, created

    item, created = retry_on_conflict(attempt, what=f"customer '{customer_id}'",
                                      if_match=expected_version)
    return render(item, now, tag_names_of(seller_id, [item])[customer_id]), created


def get(seller_id: str, customer_id: str, now: datetime) -> dict:
    item = repo.get(seller_id, customer_id) if usable_customer_id(customer_id) else None
    if item is None:
        raise NotFound(f"customer '{customer_id}' not found")
    return render(item, now, tag_names_of(seller_id, [item])[customer_id])


def list_page(seller_id: str, limit: int, cursor: dict | None, now: datetime,
              segment_id: str | None = None, tag: str | None = None
              ) -> tuple[list[dict], dict | None]:
    """A page of customers, optionally filtered; the cursor is the last customer examined,
    so every match appears exactly once across pages."""
    if segment_id is None and tag is None:
        found, state = repo.matching_page(seller_id, limit, cursor)
        return _render_all(seller_id, found, now), state
    ids, state = audiences.filtered_page(seller_id, segment_id, tag, limit, cursor, now)
    items = repo.batch_get(seller_id, ids) if ids else {}
    # A customer is never deleted, so every id found is there (a race cannot drop one).
    return _render_all(seller_id, [items[c] for c in ids if c in items], now), state


def _render_all(seller_id: str, items: list[repo.CustomerItem], now: datetime) -> list[dict]:
    names = tag_names_of(seller_id, items)
    return [render(i, now, names[i.customer_id]) for i in items]
