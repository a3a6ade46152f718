"""A/B tests of one-off plans: the form's ``variants`` and ``ab_test`` (stored in the plan's
``extra``), their validation against the shop's data, the sample's check when the plan is
sent, and ``POST /v1/plans/{plan_id}/winner``. The sending and the timed decision are
delivery's (delivery/experiments.py); the rules are pure (domain/experiments.py)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.delivery import dispatch
from chalicelib.delivery import experiments as delivery_ab
from chalicelib.domain import experiments as rules
from chalicelib.domain.errors import Conflict, Invalid
from chalicelib.store import plans as repo

FIELDS = ("variants", "ab_test")


def stored_fields(body: Any, given: set[str], extra: dict | None) -> dict | None:
    """``extra`` with the A/B fields of a create or patch body applied (``null`` clears)."""
    if not given & set(FIELDS):
        return extra
    out = dict(extra or {})
    for name in FIELDS:
        if name not in given:
            continue
        value = getattr(body, name)
        if value is None:
            out.pop(name, None)
        elif name == "variants":   # unset fields left out: they keep the plan's own
            out[name] = [v.model_dump(mode="json", exclude_unset=True) for v in value]
        else:
            out[name] = value.model_dump(mode="json")
    return out or None


def view_fields(item: repo.PlanItem) -> dict[str, Any]:
    extra = item.extra or {}
    if extra.get("variants") is None and extra.get("ab_test") is None:
        return {}
    return {"variants": extra.get("variants"), "ab_test": rules.view(extra, item.ab_decision)}


def check_sample(item: repo.PlanItem, now: datetime) -> list[str]:
    """Sending now: 400 when a variant's sample would be empty; the warnings for small ones.
    A scheduled plan is checked the same way against today's audience (a forecast: at its
    dispatch a variant left with nobody simply has no rate)."""
    if not (item.extra or {}).get("variants"):
        return []
    sizes = dispatch.sample_sizes(item, now)
    problems = rules.sample_problems(sizes)
    if problems:
        raise Invalid("the A/B test's sample is too small", problems)
    return rules.sample_warnings(sizes)


def pick_winner(seller_id: str, item: repo.PlanItem, body: rules.WinnerBody, now: datetime
                ) -> repo.PlanItem:
    """Decide now, by the metric or (``variant_id``) by hand; 409 once decided, for a plan
    without an A/B test, or one whose sample has not gone out yet."""
    extra = item.extra or {}
    variants = [v["variant_id"] for v in extra.get("variants") or []]
    if not variants or extra.get("ab_test") is None:
        raise Conflict(f"plan '{item.plan_id}' has no A/B test",
                       [{"path": "variants", "message": "not an A/B test"}])
    if body.variant_id is not None:
        unknown = rules.unknown_variant(variants, body.variant_id)
        if unknown:
            raise Invalid("unknown variant", unknown)
    if item.ab_decision:
        raise _decided(item)
    if item.status != "in_progress" or not delivery_ab.sample_sent(seller_id, item.plan_id):
        raise Conflict(f"plan '{item.plan_id}' is {item.status}: its sample has not been sent",
                       [{"path": "status", "message": "a winner is picked while the test runs"}])
    outcome, plan = delivery_ab.decide(seller_id, item.plan_id, now, chosen=body.variant_id,
                                       by="hand" if body.variant_id else "operator")
    if outcome != "decided":
        if plan is not None and plan.ab_decision:
            raise _decided(plan)
        raise Conflict(f"plan '{item.plan_id}' changed meanwhile; re-read it")
    return plan


def after_cancel(item: repo.PlanItem) -> None:
    """A cancelled A/B plan: no decision will come; its rest is recorded as cancelled."""
    if (item.extra or {}).get("variants"):
        delivery_ab.after_cancel(item.seller_id, item.plan_id)


def _decided(item: repo.PlanItem) -> Conflict:
    winner = (item.ab_decision or {}).get("winner")
    return Conflict(f"the A/B test of plan '{item.plan_id}' is decided (winner '{winner}')",
                    [{"path": "ab_test.status", "message": "already decided"}])
