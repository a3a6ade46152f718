"""Follow-up to non-readers: POST /v1/plans/{plan_id}/follow-up makes a new one-off plan
whose audience is fixed at its dispatch (delivery/follow_up.py), sent ``after_days`` after
the original's send time (default 3), or at ``send_at`` (null: now; "best" too). It goes
through the plans service's own save-then-start path, so every plan rule holds for it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.domain import followups as rules
from chalicelib.domain import plans as plan_rules
from chalicelib.domain.aggregates import to_ms
from chalicelib.domain.errors import Conflict
from chalicelib.domain.followups import FollowUpCreate
from chalicelib.logs import get_logger, log
from chalicelib.services import plan_checks, send_time
from chalicelib.services import plans as plan_service
from chalicelib.store import plans as repo

logger = get_logger("plans.follow_up")
INHERITED = ("channels", "content", "voucher", "product_ids", "button")


def create(seller_id: str, original_id: str, body: FollowUpCreate, actor: str, now: datetime
           ) -> dict[str, Any]:
    original = plan_service._get(seller_id, original_id)
    if original.kind != "one_off" or original.status != "sent":
        raise Conflict(f"only a sent one-off plan can be followed up; '{original_id}' is "
                       f"{original.kind.replace('_', '-')} and {original.status}",
                       [{"path": "status", "message": f"follow-up not allowed when {original.status}"}])
    cfg = plan_service._settings(seller_id)
    if body.timed_by_send_at:
        send_at, warnings = send_time.resolve(seller_id, body.send_at, cfg.timezone, now)
    else:
        send_at, warnings = rules.after_days_time(int(original.send_at or original.created_at),
                                                  body.after_days, now), []
    now_ms = to_ms(now)
    given = {name: plan_service._plain(getattr(body, name)) for name in INHERITED
             if getattr(body, name) is not None}
    inherited = {name: given.get(name, getattr(original, name)) for name in INHERITED}
    name = body.name or (rules.default_name(original.name)
                         if len(original.name.split()) < plan_rules.MAX_NAME_WORDS else original.name)
    item = repo.PlanItem(
        seller_id=seller_id, plan_id=plan_service.new_plan_id(now_ms), name=name, kind="one_off",
        status="draft", audience=None, channels=list(inherited["channels"] or ["chat"]),
        content=inherited["content"], voucher=inherited["voucher"],
        product_ids=list(inherited["product_ids"] or []), button=inherited["button"],
        send_at=to_ms(send_at) if send_at else None, trigger=None,
        extra={"follow_up_of": original_id}, warnings=warnings, created_at=now_ms,
        updated_at=now_ms, created_by=actor)
    if body.action == "draft":
        plan_checks.validate(seller_id, plan_service._form(item), cfg, now, sending=False)
        repo.create(item)
        log(logger, "follow-up saved", seller_id=seller_id, plan_id=item.plan_id,
            follow_up_of=original_id, status="draft")
        return plan_service.view(item)
    status, when, timing = plan_rules.send_timing(send_at, now, cfg.timezone, cfg.quiet_hours)
    plan_checks.validate(seller_id, plan_service._form(item), cfg, when or now, sending=True)
    repo.create(item)
    log(logger, "follow-up created", seller_id=seller_id, plan_id=item.plan_id,
        follow_up_of=original_id)
    return plan_service._start(item, status, when, warnings + timing, now)
