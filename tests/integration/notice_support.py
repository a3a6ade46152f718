"""Shared steps of the order-notice tests: customers with phones and paid orders, a top-up,
a notice over the API, and the ledger's sums."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from tests.integration.delivery_support import iso


def seed_orders(api, count: int, phones: bool = True, no_phone: tuple[int, ...] = (),
                blocked: tuple[int, ...] = (), unsubscribed: tuple[int, ...] = (),
                languages: tuple[str | None, ...] = ("en",), prefix: str = "n") -> list[str]:
    """``count`` customers, each with one paid order ``<prefix>o<i>``; returns the order ids."""
    now = datetime.now(UTC)
    events, orders = [], []
    for i in range(count):
        cid, oid = f"{prefix}c{i:03d}", f"{prefix}o{i:03d}"
        body = {"name": f"Buyer {i}"}
        language = languages[i % len(languages)]
        if language:
            body["language"] = language
        if phones and i not in no_phone:
            body["phone"] = f"+6681{i:07d}"
        r = api.put(f"/v1/customers/{cid}", body)
        assert r.status_code in (200, 201), r.json
        events.append({"event_id": f"{oid}-paid", "type": "order_paid", "customer_id": cid,
                       "occurred_at": iso(now - timedelta(hours=3)), "order_id": oid,
                       "amount": "99.00", "currency": "THB"})
        if i in blocked:
            events.append({"event_id": f"{cid}-b", "type": "blocked", "customer_id": cid,
                           "occurred_at": iso(now - timedelta(hours=1))})
        if i in unsubscribed:
            events.append({"event_id": f"{cid}-u", "type": "unsubscribed", "customer_id": cid,
                           "occurred_at": iso(now - timedelta(hours=1))})
        orders.append(oid)
    for start in range(0, len(events), 500):
        r = api.post("/v1/events", {"events": events[start:start + 500]})
        assert r.status_code == 202 and not r.json["rejected"], r.json
    return orders


def topup(api, amount: str) -> dict:
    r = api.post("/v1/billing/topups", {"amount": amount})
    assert r.status_code == 201, r.json
    return r.json


def notice_body(order_ids, channels=("chat", "sms"), scenario="delayed_shipping",
                action="send", **extra) -> dict:
    orders = [{"order_id": o, "product_name": "Jasmine Rice 5kg", "ship_date": "12月05日",
               "reason": "a storm closed the port", "solution": "we refund you in full"}
              for o in order_ids]
    return {"name": "Rice is late", "kind": "order_notice", "scenario": scenario,
            "channels": list(channels), "orders": orders, "action": action, **extra}


def ledger(api) -> list[dict]:
    items, cursor = [], None
    while True:
        r = api.get("/v1/billing/ledger?limit=200" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status_code == 200, r.json
        items += r.json["items"]
        cursor = r.json["next_cursor"]
        if not cursor:
            return items


def assert_ledger_sums(api) -> dict:
    """balance = Σ topup + reserve + release; every amount three places; returns billing."""
    billing = api.get("/v1/billing").json
    entries = ledger(api)
    assert all(len(e["amount"].split(".")[1]) == 3 for e in entries)
    moved = sum((Decimal(e["amount"]) for e in entries if e["kind"] != "charge"), Decimal(0))
    assert Decimal(billing["balance"]) == moved, (billing, entries)
    assert Decimal(billing["balance"]) >= 0 and Decimal(billing["reserved"]) >= 0
    # newest first, and each entry's balance_after follows from the one before it
    running = Decimal(0)
    for e in reversed(entries):
        if e["kind"] != "charge":
            running += Decimal(e["amount"])
        assert Decimal(e["balance_after"]) == running, e
    return billing


def cost_from_ledger(api, plan_id: str) -> Decimal:
    return -sum((Decimal(e["amount"]) for e in ledger(api)
                 if e["kind"] == "charge" and e.get("plan_id") == plan_id and not e.get("test")),
                Decimal(0))
