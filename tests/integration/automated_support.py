"""Shared steps of the automated-plan tests: customers and events over the API, the queues
run to quiet, and the due sweep run at a chosen moment."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.delivery_support import add_product, iso, run_pipeline


def now() -> datetime:
    return datetime.now(UTC)


def customer(api, cid: str, **fields) -> str:
    r = api.put(f"/v1/customers/{cid}", {"name": f"Name {cid}", "language": "en", **fields})
    assert r.status_code in (200, 201), r.json
    return cid


def events(api, *items: dict) -> None:
    r = api.post("/v1/events", {"events": list(items)})
    assert r.status_code == 202 and not r.json["rejected"], r.json


def ev(etype: str, cid: str | None, eid: str, ago: timedelta = timedelta(0), **extra) -> dict:
    body = {"event_id": eid, "type": etype, "occurred_at": iso(now() - ago), **extra}
    if cid is not None:
        body["customer_id"] = cid
    return body


def plan(api, trigger: dict, action: str = "send", **extra) -> dict:
    body = {"name": "Cart recovery", "kind": "automated", "trigger": trigger,
            "channels": ["chat"], "content": {"text": {"en": "Hi {name}, {product} {voucher}"}},
            "action": action, **extra}
    r = api.post("/v1/plans", body)
    assert r.status_code == 201, r.json
    return r.json


def sweep(app, at: datetime, lease_ms: int = 60_000) -> dict:
    """The events behind the queues, then one due sweep at ``at``, then the counters."""
    from chalicelib.delivery import timers

    run_pipeline(app)
    got = timers.sweep(at, lease_ms=lease_ms)
    run_pipeline(app)
    return got


def inbox(api, cid: str, plan_id: str) -> list[dict]:
    r = api.get(f"/v1/customers/{cid}/inbox")
    assert r.status_code == 200, r.json
    return [m for m in r.json["items"] if m["plan_id"] == plan_id and not m["test"]]


def performance(api, plan_id: str) -> dict:
    r = api.get(f"/v1/plans/{plan_id}/performance")
    assert r.status_code == 200, r.json
    return r.json


def deliveries(api, plan_id: str, status: str | None = None) -> list[dict]:
    r = api.get(f"/v1/plans/{plan_id}/deliveries" + (f"?status={status}" if status else ""))
    assert r.status_code == 200, r.json
    return r.json["items"]


__all__ = ["add_product", "customer", "deliveries", "ev", "events", "inbox", "iso", "now",
           "performance", "plan", "sweep"]


class Crash(Exception):
    """A crash injected at a chosen point (a store, channel or queue call)."""


@pytest.fixture
def channel_log(monkeypatch) -> Counter[str]:
    """Every key the chat channel is asked to send, counted at the call."""
    from chalicelib.delivery import channels

    sends: Counter[str] = Counter()
    original = channels.LocalChat.send

    def send(self, messages):
        sends.update(m.key for m in messages if not m.test)
        return original(self, messages)

    monkeypatch.setattr(channels.LocalChat, "send", send)
    return sends
