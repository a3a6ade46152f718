"""Automated plans' use cases beside the plan form (services/plans.py calls these): the
fields only they have (window, cooldown, holdout), their validation, starting one
(draft -> active) and what its status reads now (``ended`` past window.end)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.domain import automated as rules
from chalicelib.domain.aggregates import iso, to_ms
from chalicelib.domain.errors import Invalid
from chalicelib.domain.plans import to_utc
from chalicelib.logs import get_logger, log
from chalicelib.store import occurrences
from chalicelib.store import plans as repo
from chalicelib.store import vouchers as voucher_store

logger = get_logger("plans.automated")
OWN_FIELDS = ("window", "cooldown_hours", "holdout_percent")
SKIP_REASONS = rules.SKIP_ORDER


def stored_fields(body: Any, given: set[str], timezone: str, extra: dict | None) -> dict:
    """``extra`` with the automated fields of a create or patch body applied (times in ms)."""
    out = dict(extra or {})
    for name in OWN_FIELDS:
        if name not in given:
            continue
        value = getattr(body, name)
        if name == "window" and value is not None:
            start, end = to_utc(value.start, timezone), to_utc(value.end, timezone)
            value = {"start": to_ms(start) if start else None, "end": to_ms(end) if end else None}
        out[name] = value
    return out


def with_defaults(item: repo.PlanItem) -> None:
    """A trigger stored with its defaults filled in; cooldown 24 h and holdout 0 unless given."""
    if item.trigger is not None:
        parsed, _ = rules.parse_trigger(item.trigger)
        if parsed is not None:
            item.trigger = parsed
    extra = dict(item.extra or {})
    if extra.get("cooldown_hours") is None:
        extra["cooldown_hours"] = rules.DEFAULT_COOLDOWN_HOURS
    if extra.get("holdout_percent") is None:
        extra["holdout_percent"] = 0
    item.extra = extra


def problems(seller_id: str, form: dict[str, Any], now: datetime, sending: bool
             ) -> list[dict[str, str]]:
    """What an automated form must also meet (on top of the common plan checks)."""
    found = rules.form_problems(form, to_ms(now), sending)
    voucher = form.get("voucher") or {}
    for index, voucher_id in enumerate(voucher.get("voucher_ids") or []):
        if voucher_store.get_voucher(seller_id, voucher_id) is None:
            found.append({"path": f"voucher.voucher_ids[{index}]",
                          "message": f"voucher '{voucher_id}' does not exist"})
    return found


def check(seller_id: str, form: dict[str, Any], now: datetime, sending: bool) -> None:
    found = problems(seller_id, form, now, sending)
    if found:
        raise Invalid("plan is not valid", found)


def start(item: repo.PlanItem, now: datetime) -> repo.PlanItem | None:
    """draft -> active. The plan enters the seller's registry first, so a crash in between
    leaves an entry whose plan is still a draft (triggers ignore it), never an active plan
    the triggers cannot find."""
    now_ms = to_ms(now)
    occurrences.register(item.seller_id, item.plan_id, item.trigger or {})
    moved = repo.set_status(item.seller_id, item.plan_id, {"draft"}, "active",
                            dispatched_at=now_ms, updated_at=now_ms, warnings=[])
    if moved is not None:
        log(logger, "automated plan active", seller_id=item.seller_id, plan_id=item.plan_id,
            trigger=(item.trigger or {}).get("type"))
    return moved


def stopped(seller_id: str, plan_id: str) -> None:
    """Cancelled: triggers stop looking at it (messages already due are skipped when due)."""
    occurrences.unregister(seller_id, plan_id)


def status_now(item: repo.PlanItem, now_ms: int) -> str:
    """``ended`` once window.end has passed (written by the triggers and the sweep when they
    next touch the plan; shown at once)."""
    if item.kind == "automated" and item.status in ("active", "paused") and rules.has_ended(
            (item.extra or {}).get("window"), now_ms):
        return "ended"
    return item.status


def view_fields(item: repo.PlanItem) -> dict[str, Any]:
    """The automated fields of the plan as the API returns them."""
    if item.kind != "automated":
        return {}
    extra = item.extra or {}
    window = extra.get("window")
    return {"window": {"start": iso(window.get("start")), "end": iso(window.get("end"))}
            if window else None,
            "cooldown_hours": extra.get("cooldown_hours", rules.DEFAULT_COOLDOWN_HOURS),
            "holdout_percent": extra.get("holdout_percent") or 0}


DELIVERY_STATUS = {"sent": "delivered", "failed": "failed", "skipped": "skipped"}


def deliveries_page(seller_id: str, plan_id: str, status: str | None, limit: int,
                    after: str | None) -> tuple[list[dict], str | None]:
    """One item per message (occurrence that fell due), in occurrence order."""
    wanted = [k for k, v in DELIVERY_STATUS.items() if status is None or v == status]
    items, nxt = occurrences.page(seller_id, plan_id, wanted, limit, after)
    out = []
    for item in items:
        row: dict[str, Any] = {"customer_id": item.customer_id, "channel": "chat",
                               "status": DELIVERY_STATUS[item.status], "occurrence": item.key}
        if item.reason:
            row["reason"] = item.reason
        if item.status != "skipped" and item.sent_at is not None:
            row["sent_at"] = iso(item.sent_at)
        out.append(row)
    return out, nxt
