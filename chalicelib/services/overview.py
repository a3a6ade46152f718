"""The overview dashboard and a segment's performance (API.md "Overview, segment
performance, audience export"; docs/overview.md), read from the rollups that
delivery/rollups.py keeps, never from the events themselves."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Any

from chalicelib import audiences
from chalicelib.domain import overview as domain
from chalicelib.domain.errors import NotFound
from chalicelib.services import performance
from chalicelib.store import overview as store
from chalicelib.store import plan_stats, plans
from chalicelib.store import shop_settings as shop_settings_store

ONE_OFF_KINDS = ("one_off",)


def _window(seller_id: str, days: int, now: datetime) -> tuple[list[str], int]:
    return domain.window(now, shop_settings_store.in_force(seller_id).timezone, days)


def _recipients(seller_id: str, plan: plans.PlanItem | None, sent: int) -> int:
    """A one-off plan's recipients as its performance shows them (its snapshot); an automated
    plan's: the messages it sent in the window."""
    if plan is not None and plan.kind in ONE_OFF_KINDS:
        record = plan_stats.get_part(seller_id, plan.plan_id, plan_stats.DISPATCH) or {}
        return int(record.get("recipients", sent))
    return sent


def overview(seller_id: str, days: int, now: datetime) -> dict[str, Any]:
    """GET /v1/overview: the shop over the last ``days`` days (today included)."""
    window_days, start_ms = _window(seller_id, days, now)
    first, last = window_days[0], window_days[-1]
    customers, sizes = audiences.shop_sizes(seller_id, now)
    day_rows = store.day_rows(seller_id, first, last)
    per_plan = domain.plan_totals(store.plan_rows(seller_id, first, last))
    funnel = {metric: store.count_since(seller_id, metric, start_ms) for metric in domain.FUNNEL}
    gmv = sum((p["gmv"] for p in per_plan.values()), Decimal(0))
    orders = sum(p["orders"] for p in per_plan.values())
    shop_orders, shop_gmv = domain.shop_totals(day_rows)
    top = domain.best_plans(per_plan)
    items = plans.get_many(seller_id, top)
    plans_top = [{"plan_id": p, "name": items[p].name if p in items else "",
                  "recipients": _recipients(seller_id, items.get(p),
                                            per_plan[p]["delivered"] + per_plan[p]["failed"]),
                  "orders": per_plan[p]["orders"], "gmv": f"{per_plan[p]['gmv']:.2f}"}
                 for p in top]
    return {"customers": customers, "segments": sizes, "plans": len(per_plan),
            "funnel": funnel, "gmv": f"{gmv:.2f}", "orders": orders,
            "shop_gmv": f"{shop_gmv:.2f}", "shop_orders": shop_orders,
            "gmv_share": domain.share(gmv, shop_gmv), "plans_top": plans_top,
            "daily": domain.daily_series(window_days, day_rows)}


PLAN_FIGURES = ("recipients", "read", "clicked", "orders")


def segment_performance(seller_id: str, segment_id: str, days: int, now: datetime
                        ) -> dict[str, Any]:
    """GET /v1/segments/{id}/performance: the plans sent in the window whose audience named
    the segment (exclusions do not count), each with the whole plan's figures."""
    if not audiences.segment_exists(seller_id, segment_id):
        raise NotFound(f"segment '{segment_id}' not found")
    window_days, _ = _window(seller_id, days, now)
    sent = domain.plan_totals(store.plan_rows(seller_id, window_days[0], window_days[-1]))
    named = [p for p in sorted(plans.get_many(seller_id, list(sent)).values(),
                               key=lambda p: p.plan_id, reverse=True)
             if segment_id in ((p.audience or {}).get("segment_ids") or [])]
    rows = []
    totals: dict[str, Any] = {name: 0 for name in PLAN_FIGURES}
    gmv = Decimal(0)
    for plan in named:
        figures = performance.performance(seller_id, plan.plan_id)
        row = {"plan_id": plan.plan_id, "name": plan.name,
               **{name: int(figures[name]) for name in PLAN_FIGURES}, "gmv": figures["gmv"]}
        rows.append(row)
        for name in PLAN_FIGURES:
            totals[name] += row[name]
        gmv += Decimal(figures["gmv"])
    return {"segment_id": segment_id, "plans": rows, "totals": {**totals, "gmv": f"{gmv:.2f}"}}
