"""Shared steps of the A/B tests: a plan with variants over the API, the decision timer
fired as EventBridge Scheduler would, and the ground truth of who got what."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

from tests.integration.delivery_support import add_product

TEXTS = {"a": "Variant A for {name}", "b": "Variant B for {name}", "c": "Variant C for {name}"}


def variants(*ids: str) -> list[dict]:
    return [{"variant_id": v, "content": {"text": {"en": TEXTS[v]}}} for v in ids]


def create_ab_plan(api, sample_percent: int = 25, metric: str = "click", wait_minutes: int = 30,
                   variant_ids=("a", "b"), action: str = "send", **extra) -> dict:
    body = {"name": "Which text sells", "kind": "one_off",
            "audience": {"segment_ids": ["new_followers"]}, "channels": ["chat"],
            "product_ids": [add_product(api)], "variants": variants(*variant_ids),
            "ab_test": {"sample_percent": sample_percent, "metric": metric,
                        "wait_minutes": wait_minutes},
            "action": action, **extra}
    r = api.post("/v1/plans", body)
    assert r.status_code == 201, r.json
    return r.json


def fire_timer(minutes: float) -> int:
    """Fire every schedule due ``minutes`` from now (the local stack's scheduler emulator)."""
    from chalicelib.local.scheduler import fire_due

    return fire_due(datetime.now(UTC) + timedelta(minutes=minutes))


def deliveries(api, plan_id: str) -> list[dict]:
    items, cursor = [], None
    while True:
        r = api.get(f"/v1/plans/{plan_id}/deliveries?limit=200" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status_code == 200, r.json
        items += r.json["items"]
        cursor = r.json["next_cursor"]
        if not cursor:
            return items


def by_variant(rows: list[dict]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    for row in rows:
        if row["status"] == "delivered":
            out.setdefault(row["variant"], []).append(row["customer_id"])
    return out


def inbox_texts(api, plan_id: str, ids) -> dict[str, list[str]]:
    return {cid: [m["text"] for m in api.get(f"/v1/customers/{cid}/inbox").json["items"]
                  if m["plan_id"] == plan_id] for cid in ids}


def assert_each_got_one_message(api, plan_id: str, ids, sends=None) -> dict[str, str]:
    """Every customer exactly one inbox message of the plan (and, with a SendLog, asked of
    the channel exactly once but for excused re-sends); returns customer -> text."""
    texts = inbox_texts(api, plan_id, ids)
    assert {cid: len(t) for cid, t in texts.items()} == {cid: 1 for cid in ids}
    if sends is not None:
        assert set(sends.per_customer(plan_id)) == set(ids)
        assert not sends.duplicates(), sends.duplicates()
    return {cid: t[0] for cid, t in texts.items()}


def variant_of_text(text: str) -> str:
    return text.split()[1].lower()


def count(values) -> Counter:
    return Counter(values)
