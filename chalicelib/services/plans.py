"""Plans: create, read, list, edit drafts, delete, and the lifecycle moves (send, cancel,
pause, resume, test-send). Delivering a sent plan is chalicelib/delivery's job; this
module hands it over through ``dispatch.enqueue`` (now) or ``scheduling.schedule`` (later)."""

from __future__ import annotations

import re
import secrets
import time
from datetime import UTC, datetime
from typing import Any

from chalicelib.delivery import dispatch, scheduling, worker
from chalicelib.domain import aggregates
from chalicelib.domain import plans as rules
from chalicelib.domain.aggregates import iso, to_ms
from chalicelib.domain.errors import Conflict, Invalid, NotFound, RateLimited
from chalicelib.domain.plans import PlanCreate, PlanPatch
from chalicelib.domain.shop_settings import ShopSettings
from chalicelib.domain.versions import check_version
from chalicelib.logs import get_logger, log
from chalicelib.services import automated, order_notices, plan_checks, send_time, tags
from chalicelib.services import experiments as ab
from chalicelib.store import customers, plan_history, plan_stats
from chalicelib.store import imports as rate_slots  # the rolling-hour slots
from chalicelib.store import plans as repo
from chalicelib.store import shop_settings as shop_settings_store
from chalicelib.store.versioning import retry_on_conflict

logger = get_logger("plans")
SUPPORTED_KINDS = ("one_off", "automated", "order_notice")
# Refused test sends are kept in the history this long (the sent ones for good), so a client
# hammering a refusal cannot grow a plan's history without bound.
REFUSED_KEPT_S = 90 * 86400
PLAN_ID = re.compile(r"^[A-Za-z0-9_.:-]{1,128}$")
FORM_FIELDS = ("name", "kind", "audience", "channels", "content", "voucher", "product_ids",
               "button", "send_at", "trigger")


def new_plan_id(now_ms: int) -> str:
    # Time-ordered, so "newest first" is a reverse range query on the table.
    return f"pl_{now_ms:011x}{secrets.token_hex(4)}"


def view(item: repo.PlanItem) -> dict[str, Any]:
    """The plan as the API returns it (times ISO UTC)."""
    extra = item.extra or {}
    return {
        "plan_id": item.plan_id, "name": item.name, "kind": item.kind,
        "status": automated.status_now(item, int(time.time() * 1000)),
        "audience": item.audience, "channels": list(item.channels or []),
        "content": item.content, "voucher": item.voucher,
        "product_ids": list(item.product_ids or []), "button": item.button,
        "send_at": iso(item.send_at), "trigger": item.trigger, "orders": extra.get("orders"),
        "follow_up_of": extra.get("follow_up_of"),
        "warnings": list(item.warnings or []), "version": item.version,
        "created_at": iso(item.created_at), "updated_at": iso(item.updated_at),
        "dispatched_at": iso(item.dispatched_at), "finished_at": iso(item.finished_at),
        "cancelled_at": iso(item.cancelled_at), "created_by": item.created_by,
        **automated.view_fields(item), **ab.view_fields(item),
        **({"holdout_percent": holdout_of(item)} if item.kind == "one_off" else {}),
        **({"scenario": extra.get("scenario"), "order_count": int(extra.get("order_count") or 0)}
           if item.kind == order_notices.KIND else {}),
    }


def _form(item: repo.PlanItem) -> dict[str, Any]:
    """The plan form's stored values as plain data, for the domain rules."""
    return {**{name: getattr(item, name) for name in FORM_FIELDS}, **(item.extra or {}),
            "orders": (item.extra or {}).get("orders"),
            "follow_up_of": (item.extra or {}).get("follow_up_of")}


def holdout_of(item: repo.PlanItem) -> int:
    """The plan's ``holdout_percent`` (0 when it has none)."""
    return int((item.extra or {}).get("holdout_percent") or 0)


def _holdout_field(item: repo.PlanItem, body: PlanCreate | PlanPatch, given: set[str]) -> None:
    """A one-off plan keeps ``holdout_percent`` in ``extra`` (automated plans: their own
    fields); an order notice has no holdout (400)."""
    if "holdout_percent" not in given or item.kind == "automated":
        return
    if item.kind != "one_off":
        raise Invalid("only one-off and automated plans have a holdout",
                      [{"path": "holdout_percent", "message": "only for one-off and automated plans"}])
    item.extra = {**(item.extra or {}), "holdout_percent": body.holdout_percent or 0}


def _plain(value: Any) -> Any:
    """A request model (or list/None) as the JSON the table stores."""
    if isinstance(value, rules.Audience):
        return value.model_dump(mode="json")   # every key: a complete, predictable shape
    if hasattr(value, "model_dump"):
        return value.model_dump(mode="json", exclude_none=True)
    return value


def _settings(seller_id: str) -> ShopSettings:
    return shop_settings_store.in_force(seller_id)


def _get(seller_id: str, plan_id: str) -> repo.PlanItem:
    # An id no plan can have is simply not found (and never reaches DynamoDB's key limits).
    item = repo.get(seller_id, plan_id) if PLAN_ID.match(plan_id) else None
    if item is None:
        raise NotFound(f"plan '{plan_id}' not found")
    return item


def _refused(seller_id: str, plan_id: str, action: str) -> None:
    """A conditional move failed: say why (gone -> 404, lifecycle -> 409)."""
    item = _get(seller_id, plan_id)
    rules.check_action(item.kind, item.status, action)
    raise Conflict(f"plan '{plan_id}' changed meanwhile; re-read it")


def _supported(kind: str) -> None:
    if kind not in SUPPORTED_KINDS:
        raise Invalid(f"{kind} plans are not supported yet",
                      [{"path": "kind", "message": "only one_off, automated and order_notice plans can be "
                                                   "created for now"}])


def create(seller_id: str, body: PlanCreate, actor: str, now: datetime) -> dict[str, Any]:
    """Save the form as a draft, then (``action: send``) send it at once or at ``send_at``."""
    _supported(body.kind)
    cfg = _settings(seller_id)
    now_ms = to_ms(now)
    send_at, best = send_time.resolve(seller_id, body.send_at, cfg.timezone, now)
    plan_id = new_plan_id(now_ms)
    extra = {"orders": body.orders} if body.orders is not None else None
    if body.kind == order_notices.KIND:   # its orders are written first, under the fresh id
        extra = order_notices.store_orders(seller_id, plan_id, body.scenario, body.orders)
    item = repo.PlanItem(
        seller_id=seller_id, plan_id=plan_id, name=body.name, kind=body.kind,
        status="draft", audience=_plain(body.audience), channels=list(body.channels),
        content=_plain(body.content), voucher=_plain(body.voucher),
        product_ids=list(body.product_ids), button=_plain(body.button),
        send_at=to_ms(send_at) if send_at else None, trigger=body.trigger,
        extra=ab.stored_fields(body, body.model_fields_set, extra), warnings=best,
        created_at=now_ms, updated_at=now_ms, created_by=actor)
    if body.kind == "automated":
        item.extra = automated.stored_fields(body, body.model_fields_set, cfg.timezone, item.extra)
        return _create_automated(item, body.action, cfg, now)
    _holdout_field(item, body, body.model_fields_set)
    if body.action == "draft":
        plan_checks.validate(seller_id, _form(item), cfg, now, sending=False)
        repo.create(item)
        log(logger, "plan saved", seller_id=seller_id, plan_id=item.plan_id, status="draft")
        return view(item)
    status, when, warnings = rules.send_timing(send_at, now, cfg.timezone, cfg.quiet_hours)
    plan_checks.validate(seller_id, _form(item), cfg, when or now, sending=True)
    warnings = best + warnings + ab.check_sample(item, now)
    repo.create(item)   # a draft first: if handing over fails, the seller still has the form
    return _start(item, status, when, warnings, now)


def _automated_form(item: repo.PlanItem) -> dict[str, Any]:
    return {**_form(item), "window": (item.extra or {}).get("window")}


def _create_automated(item: repo.PlanItem, action: str, cfg: ShopSettings, now: datetime
                      ) -> dict[str, Any]:
    automated.with_defaults(item)
    plan_checks.validate(item.seller_id, _form(item), cfg, now, sending=False)
    automated.check(item.seller_id, _automated_form(item), now, sending=action == "send")
    repo.create(item)
    if action == "draft":
        return view(item)
    return _start_automated(item, cfg, now)


def _start_automated(item: repo.PlanItem, cfg: ShopSettings, now: datetime) -> dict[str, Any]:
    moved = automated.start(item, now)
    if moved is None:
        _refused(item.seller_id, item.plan_id, "send")
    return view(moved)


def _start(item: repo.PlanItem, status: str, when: datetime | None, warnings: list[str],
           now: datetime) -> dict[str, Any]:
    """draft -> scheduled (a one-time schedule) or in_progress (dispatch now)."""
    seller_id, plan_id, now_ms = item.seller_id, item.plan_id, to_ms(now)
    # An order notice's move also reserves its estimate (402 when the balance is short).
    move = order_notices.reserving_move(item, _settings(seller_id), now) \
        if item.kind == order_notices.KIND else repo.set_status
    if holdout_of(item):
        # Before the move: by the time the plan is sending, a paid order finds it (a move
        # refused after this leaves a registration the reader sees is stale).
        plan_stats.register_measured(seller_id, plan_id, to_ms(when) if status == "scheduled"
                                     else now_ms)
    if status == "scheduled":
        # Schedule before the status moves: a crash in between leaves a schedule whose
        # firing finds a draft and does nothing, never a "scheduled" plan with no schedule.
        scheduling.schedule(seller_id, plan_id, when)
        moved = move(seller_id, plan_id, {"draft"}, "scheduled", send_at=to_ms(when),
                     warnings=warnings, updated_at=now_ms)
        if moved is None:
            _refused(seller_id, plan_id, "send")
    else:
        moved = move(seller_id, plan_id, {"draft"}, "in_progress", send_at=now_ms,
                     warnings=warnings, updated_at=now_ms)
        if moved is None:
            _refused(seller_id, plan_id, "send")
        try:
            dispatch.enqueue(seller_id, plan_id)
        except Exception:
            # Nothing was handed over: back to draft so the seller can send again.
            if item.kind == order_notices.KIND:
                order_notices.undo_send(seller_id, plan_id, now)
            else:
                repo.set_status(seller_id, plan_id, {"in_progress"}, "draft", updated_at=now_ms)
            raise
    names = rules.tag_names((item.audience or {}).get("tags"))
    if names:
        tags.record_usage(seller_id, names, now)
    log(logger, "plan sent", seller_id=seller_id, plan_id=plan_id, status=status,
        send_at=when.isoformat() if when else None)
    return view(moved)


def send(seller_id: str, plan_id: str, now: datetime) -> dict[str, Any]:
    """POST /send on a draft: validated completely, then started (a kept send_at is used)."""
    item = _get(seller_id, plan_id)
    rules.check_action(item.kind, item.status, "send")
    _supported(item.kind)
    cfg = _settings(seller_id)
    if item.kind == "automated":
        plan_checks.validate(seller_id, _form(item), cfg, now, sending=False)
        automated.check(seller_id, _automated_form(item), now, sending=True)
        return _start_automated(item, cfg, now)
    kept = datetime.fromtimestamp(item.send_at / 1000, UTC) if item.send_at is not None else None
    status, when, warnings = rules.send_timing(kept, now, cfg.timezone, cfg.quiet_hours)
    plan_checks.validate(seller_id, _form(item), cfg, when or now, sending=True)
    return _start(item, status, when, warnings + ab.check_sample(item, now), now)


def cancel(seller_id: str, plan_id: str, now: datetime) -> dict[str, Any]:
    """Store the cancel (workers check it per chunk), then delete any pending schedule."""
    item = _get(seller_id, plan_id)
    rules.check_action(item.kind, item.status, "cancel")
    now_ms = to_ms(now)
    moved = repo.set_status(seller_id, plan_id, set(rules.allowed_from(item.kind, "cancel")),
                            "cancelled", cancelled_at=now_ms, updated_at=now_ms)
    if moved is None:
        _refused(seller_id, plan_id, "cancel")
    scheduling.unschedule(seller_id, plan_id)
    ab.after_cancel(item)
    if item.kind == "automated":
        automated.stopped(seller_id, plan_id)
    if item.kind == order_notices.KIND:
        order_notices.after_cancel(seller_id, plan_id, now)
    log(logger, "plan cancelled", seller_id=seller_id, plan_id=plan_id, was=item.status)
    return view(moved)


def move(seller_id: str, plan_id: str, action: str, now: datetime) -> dict[str, Any]:
    """pause / resume (automated plans only; anything else is a 409)."""
    item = _get(seller_id, plan_id)
    rules.check_action(item.kind, item.status, action)
    moved = repo.set_status(seller_id, plan_id, set(rules.allowed_from(item.kind, action)),
                            rules.TARGET[action], updated_at=to_ms(now))
    if moved is None:
        _refused(seller_id, plan_id, action)
    return view(moved)


def delete(seller_id: str, plan_id: str) -> None:
    item = _get(seller_id, plan_id)
    rules.check_action(item.kind, item.status, "delete")
    if not repo.delete_if(seller_id, plan_id, rules.allowed_from(item.kind, "delete")):
        _refused(seller_id, plan_id, "delete")
    log(logger, "plan deleted", seller_id=seller_id, plan_id=plan_id)


def get(seller_id: str, plan_id: str) -> dict[str, Any]:
    item = _get(seller_id, plan_id)
    if item.kind == order_notices.KIND:   # one plan: its orders too (lists leave them out)
        return {**view(item), "orders": order_notices.orders_of(item)}
    return view(item)


def list_page(seller_id: str, limit: int, before: str | None, kind: str | None,
              status: str | None) -> tuple[list[dict[str, Any]], str | None]:
    items, nxt = repo.page(seller_id, limit, before, kind, status)
    return [view(i) for i in items], nxt


def patch(seller_id: str, plan_id: str, body: PlanPatch, expected_version: int | None,
          now: datetime) -> dict[str, Any]:
    """Replace the given fields of a draft. With If-Match a stale version is a 412; without
    it the change is re-applied on the latest version, so concurrent edits lose nothing."""
    given = body.model_fields_set
    cfg = _settings(seller_id)

    def attempt(_: int) -> repo.PlanItem:
        item = _get(seller_id, plan_id)
        rules.check_action(item.kind, item.status, "edit")
        check_version(expected_version, item.version)
        if item.kind == "automated":
            item.extra = automated.stored_fields(body, given, cfg.timezone, item.extra)
        notice = given & {"scenario", "orders"}
        if notice and item.kind != order_notices.KIND:
            raise Invalid("only order notices have a scenario and orders",
                          [{"path": name, "message": "only for order notices"} for name in sorted(notice)])
        if notice:
            item.extra = order_notices.patched_extra(seller_id, item, body.scenario, body.orders, given)
        _holdout_field(item, body, given)
        item.extra = ab.stored_fields(body, given, item.extra)
        for name in given - set(automated.OWN_FIELDS) - set(ab.FIELDS) - notice:
            if name == "send_at":
                send_at, best = send_time.resolve(seller_id, body.send_at, cfg.timezone, now)
                item.send_at = to_ms(send_at) if send_at else None
                item.warnings = best
            else:
                setattr(item, name, _plain(getattr(body, name)))
        item.updated_at = to_ms(now)
        if item.kind == "automated":
            automated.with_defaults(item)
            automated.check(seller_id, _automated_form(item), now, sending=False)
        plan_checks.validate(seller_id, _form(item), cfg, now, sending=False)
        repo.save(item)
        return item

    return view(retry_on_conflict(attempt, what=f"plan '{plan_id}'", if_match=expected_version))


def test_send(seller_id: str, plan_id: str, customer_id: str, actor: str, now: datetime
              ) -> dict[str, Any]:
    """Send the plan's message to one customer, marked ``test`` (counts in no figure).

    A customer who blocked or unsubscribed -> 409; more than ``TEST_SENDS_PER_HOUR`` per plan
    in a rolling hour -> 429 with Retry-After. Refused ones take no slot; every one that got
    this far (sent or refused) is written to the plan's history with the actor."""
    item = _get(seller_id, plan_id)
    rules.check_action(item.kind, item.status, "test_send")
    if not item.content and item.kind != order_notices.KIND and not (item.extra or {}).get("variants"):
        raise Invalid("the plan has no content yet",
                      [{"path": "content", "message": "a template_id or a text is required"}])
    customer = customers.get(seller_id, customer_id)
    if customer is None:
        raise NotFound(f"customer '{customer_id}' not found")
    now_ms = to_ms(now)

    def note(outcome: str, **fields: Any) -> None:
        plan_history.record(seller_id, plan_id, now_ms, actor, "test_send", outcome,
                            customer_id=customer_id, **fields)

    agg = customer.agg or aggregates.empty()
    refusal = rules.consent_refusal(aggregates.is_blocked(agg), aggregates.is_unsubscribed(agg))
    if refusal is not None:
        note(refusal, keep_seconds=REFUSED_KEPT_S)
        raise rules.refused_test_send(customer_id, refusal)
    limit, window = f"test_send:{plan_id}", rules.TEST_SEND_WINDOW_MS
    slot = rate_slots.take_slot(seller_id, limit, rules.TEST_SENDS_PER_HOUR, window, now_ms)
    if slot is None:
        wait = rate_slots.wait_ms(seller_id, limit, rules.TEST_SENDS_PER_HOUR, now_ms)
        note("rate_limited", keep_seconds=REFUSED_KEPT_S)
        raise RateLimited(f"at most {rules.TEST_SENDS_PER_HOUR} test sends per plan per hour",
                          rules.retry_after_seconds(wait))
    try:
        sent = order_notices.test_send(item, customer, _settings(seller_id), now) \
            if item.kind == order_notices.KIND else worker.send_test(seller_id, plan_id, customer_id, now)
    except Exception:
        # Nothing went out: the slot is given back, so only test sends that happened count.
        rate_slots.release_slot(seller_id, limit, slot, now_ms + window)
        raise
    note(sent["status"], reason=sent["reason"], message_id=sent["message_id"])
    log(logger, "plan test send", seller_id=seller_id, plan_id=plan_id, status=sent["status"])
    return sent


def winner(seller_id: str, plan_id: str, body: ab.rules.WinnerBody, now: datetime
           ) -> dict[str, Any]:
    """POST /v1/plans/{plan_id}/winner: the A/B test decided now (by the metric or by hand)."""
    decided = ab.pick_winner(seller_id, _get(seller_id, plan_id), body, now)
    log(logger, "a/b winner picked", seller_id=seller_id, plan_id=plan_id,
        winner=(decided.ab_decision or {}).get("winner"))
    return view(decided)


def history(seller_id: str, plan_id: str, limit: int, before: str | None
            ) -> tuple[list[dict[str, Any]], str | None]:
    """GET /v1/plans/{plan_id}/history: the plan's history entries, newest first."""
    _get(seller_id, plan_id)
    rows, nxt = plan_history.page(seller_id, plan_id, limit, before)
    return [{**row, "at": iso(row["at"])} for row in rows], nxt
