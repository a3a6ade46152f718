"""The demo shop's measured plans, so the plan views and the overview have real figures:

- ``demo-plan-ab-texts``: an A/B test of two texts (metric click) to the followers, its
  sample sent, clicked (b more than a), the winner picked by the metric the way
  ``POST /winner`` picks it, the rest sent the winner's text, then read, clicked and bought
  from: ``by_variant``, rates and a p-value.
- ``demo-plan-holdout``: a win-back to the lapsed and recent buyers holding 20% back;
  some recipients and some held-out customers pay orders within the attribution window:
  ``holdout``, ``recipients_conversion``, ``lift`` (with its ci95) and ``incremental_gmv``.

Both are drafts with fixed ids sent through the plans service (its checks, the holdout's
registration, the A/B sample check), delivered by the real dispatch and worker code, and
engaged with through the events service (fixed event ids). Loading again changes nothing:
a sent plan is not sent again, every event comes back a duplicate. The audiences leave out
the other demo plans' recipients (loyal, repeat), whose orders would otherwise count as
conversions depending on when the pollers handle them.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

from chalicelib.local.demo_delivery import LOAD_TIMEOUT_S, deliver

AB_PLAN_ID = "demo-plan-ab-texts"
HOLDOUT_PLAN_ID = "demo-plan-holdout"
FOLLOWERS = ["new_followers", "active_followers", "potential_new"]
TEXTS = {"a": {"th": "คุณ{name} สินค้าใหม่มาแล้ว ลองดูเลย", "en": "{name}, new arrivals are in: take a look"},
         "b": {"th": "คุณ{name} ของโปรดของคุณกลับมาแล้ว!", "en": "{name}, your favourites are back!"}}
PRODUCTS = ["demo-p05", "demo-p06", "demo-p10"]


def _iso(at: datetime) -> str:
    return at.isoformat().replace("+00:00", "Z")


def _rows(seller_id: str, plan_id: str, status: str) -> list[Any]:
    from chalicelib.store import deliveries

    rows, after = [], None
    while True:
        page, after = deliveries.rows_page(seller_id, plan_id, status, 200, after)
        rows.extend(page)
        if after is None:
            return rows


def _send_draft(item: Any, sent: datetime) -> None:
    """Save the draft (fixed id) and send it through the plans service, as of ``sent``."""
    from chalicelib.services import plans as plan_service
    from chalicelib.store import plans

    if plans.get(item.seller_id, item.plan_id) is None:
        plans.create(item)
    if plans.get(item.seller_id, item.plan_id).status == "draft":
        plan_service.send(item.seller_id, item.plan_id, sent)


def _draft(seller_id: str, plan_id: str, name: str, at: datetime, **fields: Any) -> Any:
    from chalicelib.domain import aggregates
    from chalicelib.store import plans

    at_ms = aggregates.to_ms(at)
    return plans.PlanItem(seller_id=seller_id, plan_id=plan_id, name=name, kind="one_off",
                          status="draft", channels=["chat"], product_ids=list(PRODUCTS),
                          button={"type": "product_list"}, created_at=at_ms, updated_at=at_ms,
                          created_by="demo", **fields)


def _event(kind: str, cid: str, at: datetime, plan_id: str, **extra: Any) -> dict[str, Any]:
    tag = "ab" if plan_id == AB_PLAN_ID else "ho"
    return {"event_id": f"demo-{tag}-{cid}-{kind}", "type": kind, "customer_id": cid,
            "occurred_at": _iso(at), **({"plan_id": plan_id} if kind.startswith("message_") else {}),
            **extra}


def _order(cid: str, at: datetime, plan_id: str, amount: str) -> dict[str, Any]:
    tag = "ab" if plan_id == AB_PLAN_ID else "ho"
    return _event("order_paid", cid, at, plan_id, order_id=f"demo-{tag}-{cid}", amount=amount,
                  currency="THB", product_ids=PRODUCTS[:1])


def _ingest(seller_id: str, events: list[dict[str, Any]], now: datetime) -> int:
    from chalicelib.services import events as event_service

    accepted = 0
    for start in range(0, len(events), 500):
        accepted += event_service.ingest(seller_id, events[start:start + 500], now)["accepted"]
    return accepted


# ----- the A/B test ----------------------------------------------------------------------

def _sample_engagement(rows: list[Any], sent: datetime) -> list[dict[str, Any]]:
    """The sample's clicks: one in four of a's recipients, one in two of b's; reads too."""
    events = []
    seen: dict[str, int] = {}
    for row in rows:
        n = seen[row.variant] = seen.get(row.variant, -1) + 1
        if n % 3 < 2:
            events.append(_event("message_read", row.customer_id, sent + timedelta(minutes=5),
                                 AB_PLAN_ID))
        if n % (4 if row.variant == "a" else 2) == 0:
            events.append(_event("message_clicked", row.customer_id,
                                 sent + timedelta(minutes=6), AB_PLAN_ID))
    return events


def _rest_engagement(rows: list[Any], decided: datetime) -> list[dict[str, Any]]:
    events = []
    for n, row in enumerate(rows):
        if n % 3 < 2:
            events.append(_event("message_read", row.customer_id, decided + timedelta(minutes=5),
                                 AB_PLAN_ID))
        if n % 3 == 0:
            events.append(_event("message_clicked", row.customer_id,
                                 decided + timedelta(minutes=6), AB_PLAN_ID))
        if n % 6 == 0:
            events.append(_order(row.customer_id, decided + timedelta(minutes=20), AB_PLAN_ID,
                                 "129.00"))
    return events


def _wait_counted(seller_id: str, expected: dict[str, int],
                  timeout: float = LOAD_TIMEOUT_S) -> bool:
    """Until the pollers have folded the sample's clicks (the decision reads the counters);
    RuntimeError past ``timeout`` seconds: a winner picked on partial counts is no demo."""
    from chalicelib.delivery import experiments
    from chalicelib.store import plan_stats

    deadline = time.monotonic() + timeout
    while True:
        record = plan_stats.get_part(seller_id, AB_PLAN_ID, plan_stats.DISPATCH) or {}
        counts = experiments.sample_counts(seller_id, AB_PLAN_ID, record, "click")
        got = {v: c[0] for v, c in counts.items()}
        if got == expected:
            return True
        if time.monotonic() > deadline:
            raise RuntimeError(f"demo load timed out waiting for the A/B sample's clicks to be "
                               f"counted (plan {AB_PLAN_ID}: {got}, expected {expected}, "
                               f"{timeout:.0f} s)")
        time.sleep(0.5)


def load_ab(seller_id: str, now: datetime) -> dict[str, Any]:
    from chalicelib.domain import experiments as rules
    from chalicelib.services import experiments as ab_service
    from chalicelib.store import plan_stats, plans

    sent, decided = now - timedelta(hours=6), now - timedelta(hours=4)
    _send_draft(_draft(
        seller_id, AB_PLAN_ID, "Which text brings followers back", sent,
        audience={"segment_ids": FOLLOWERS, "exclude_segment_ids": ["loyal", "repeat"]},
        # The timer is set far out: the winner is picked once the sample's clicks are
        # counted (as POST /winner does), which releases the rest and deletes the timer.
        extra={"variants": [{"variant_id": v, "content": {"text": TEXTS[v]}} for v in TEXTS],
               "ab_test": {"sample_percent": 30, "metric": "click", "wait_minutes": 4320}}),
        sent)

    def sample() -> list[int]:
        record = plan_stats.get_part(seller_id, AB_PLAN_ID, plan_stats.DISPATCH) or {}
        return list(range(int(record.get("ab_sample_chunks", 0))))

    def sample_done() -> bool:
        record = plan_stats.get_part(seller_id, AB_PLAN_ID, plan_stats.DISPATCH) or {}
        done = {int(n) for n in record.get("done_chunks", ())}
        return record.get("state") == "enqueued" and set(sample()) <= done

    plan = plans.get(seller_id, AB_PLAN_ID)
    counted = True
    if plan.status == "in_progress" and not plan.ab_decision:
        deliver(seller_id, AB_PLAN_ID, sent, sample_done, numbers=sample)
        rows = [r for r in _rows(seller_id, AB_PLAN_ID, "delivered") if r.variant]
        engagement = _sample_engagement(rows, sent)
        _ingest(seller_id, engagement, now)
        variant_of = {r.customer_id: r.variant for r in rows}
        expected = dict.fromkeys(set(variant_of.values()), 0)
        for event in engagement:
            if event["type"] == "message_clicked":
                expected[variant_of[event["customer_id"]]] += 1
        counted = _wait_counted(seller_id, expected)
        plan = plans.get(seller_id, AB_PLAN_ID)
        if not plan.ab_decision:
            ab_service.pick_winner(seller_id, plan, rules.WinnerBody(), decided)
    if plans.get(seller_id, AB_PLAN_ID).status == "in_progress":
        deliver(seller_id, AB_PLAN_ID, decided,
                lambda: plans.get(seller_id, AB_PLAN_ID).status != "in_progress")
    # Re-ingested on every load (duplicates then): the sample's and the rest's engagement.
    rows = _rows(seller_id, AB_PLAN_ID, "delivered")
    record = plan_stats.get_part(seller_id, AB_PLAN_ID, plan_stats.DISPATCH) or {}
    sample_n = int(record.get("ab_sample_chunks", 0))
    in_sample = [r for r in rows if r.chunk is not None and int(r.chunk) < sample_n]
    in_rest = [r for r in rows if r.chunk is not None and int(r.chunk) >= sample_n]
    accepted = _ingest(seller_id, _sample_engagement(in_sample, sent)
                       + _rest_engagement(in_rest, decided), now)
    plan = plans.get(seller_id, AB_PLAN_ID)
    return {"ab_plan_status": plan.status,
            "ab_winner": (plan.ab_decision or {}).get("winner"),
            "ab_counted_before_deciding": counted, "ab_engagement_events": accepted}


# ----- the holdout -----------------------------------------------------------------------

def _holdout_engagement(delivered: list[Any], held: list[Any], sent: datetime
                        ) -> list[dict[str, Any]]:
    """A third of the recipients buy (after a read), a tenth of the held out buy anyway."""
    events = []
    for n, row in enumerate(delivered):
        cid = row.customer_id
        if n % 2 == 0:
            events.append(_event("message_read", cid, sent + timedelta(minutes=1), HOLDOUT_PLAN_ID))
        if n % 3 == 0:
            events.append(_order(cid, sent + timedelta(minutes=3), HOLDOUT_PLAN_ID,
                                 ("159.00", "249.00", "99.00")[n % 9 // 3]))
    for n, row in enumerate(held):
        if n % 10 == 0:
            events.append(_order(row.customer_id, sent + timedelta(minutes=3), HOLDOUT_PLAN_ID,
                                 "159.00"))
    return events


def load_holdout(seller_id: str, now: datetime) -> dict[str, Any]:
    from chalicelib.store import plans

    # Sent after the other demo plans' orders (thanks: 6 minutes ago, automated: 25–50), so
    # none of those falls inside its window; its own orders are 1–2 minutes ago.
    sent = now - timedelta(minutes=5)
    _send_draft(_draft(
        seller_id, HOLDOUT_PLAN_ID, "We miss you: 10% off your next order", sent,
        audience={"segment_ids": ["lapsed", "recent"],
                  "exclude_segment_ids": ["loyal", "repeat", *FOLLOWERS]},
        content={"template_id": "win_back"}, voucher={"mode": "chosen", "voucher_id": "demo-v-welcome"},
        extra={"holdout_percent": 20}), sent)
    if plans.get(seller_id, HOLDOUT_PLAN_ID).status == "in_progress":
        deliver(seller_id, HOLDOUT_PLAN_ID, sent,
                lambda: plans.get(seller_id, HOLDOUT_PLAN_ID).status != "in_progress")
    delivered = _rows(seller_id, HOLDOUT_PLAN_ID, "delivered")
    held = [r for r in _rows(seller_id, HOLDOUT_PLAN_ID, "skipped") if r.reason == "holdout"]
    accepted = _ingest(seller_id, _holdout_engagement(delivered, held, sent), now)
    return {"holdout_plan_status": plans.get(seller_id, HOLDOUT_PLAN_ID).status,
            "holdout_held_out": len(held), "holdout_engagement_events": accepted}


def load(seller_id: str, now: datetime) -> dict[str, Any]:
    return {**load_ab(seller_id, now), **load_holdout(seller_id, now)}
