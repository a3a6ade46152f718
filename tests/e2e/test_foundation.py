"""The local stack over HTTP, as the front end and the README's curl examples use it."""

from __future__ import annotations

import ctypes
import os
import signal
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests

BUILTINS = ["potential_new", "recent", "repeat", "loyal", "lapsed", "new_followers",
            "active_followers"]


def test_health_and_openapi(stack):
    assert requests.get(stack["base"] + "/health", timeout=10).json() == {"status": "ok"}
    doc = requests.get(stack["base"] + "/openapi.json", timeout=10).json()
    assert "/v1/events" in doc["paths"]


def test_the_banner_prints_a_token_and_curl_examples(stack, demo):
    banner = stack["banner"]
    assert "export TOKEN=" in banner and "curl" in banner
    token = banner.split("export TOKEN=")[1].split()[0]
    r = requests.get(stack["base"] + "/v1/customers?limit=3",
                     headers={"Authorization": f"Bearer {token}"}, timeout=10)
    assert r.status_code == 200 and len(r.json()["items"]) == 3


def test_the_demo_shop_has_members_in_every_built_in_segment(demo):
    for segment in BUILTINS:
        r = demo.call("GET", f"/v1/customers?segment_id={segment}&limit=1")
        assert r.status_code == 200 and r.json()["items"], segment


def test_the_demo_shop_has_at_least_300_customers_with_history(demo):
    total, cursor, with_orders, blocked = 0, None, 0, 0
    while True:
        r = demo.call("GET", "/v1/customers?limit=200" + (f"&cursor={cursor}" if cursor else ""))
        items = r.json()["items"]
        total += len(items)
        with_orders += sum(1 for c in items if c["stats"]["order_count"])
        blocked += sum(1 for c in items if c["blocked"] or c["unsubscribed"])
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert total >= 300 and with_orders >= 100 and blocked >= 3


def test_events_then_read_your_writes_over_http(http):
    at = (datetime.now(UTC) - timedelta(days=3)).isoformat()
    events = [{"event_id": "x1", "type": "order_paid", "customer_id": "buyer", "occurred_at": at,
               "order_id": "o1", "amount": "129.90", "currency": "THB", "product_ids": ["p1"]},
              {"event_id": "x2", "type": "nonsense", "customer_id": "buyer", "occurred_at": at}]
    r = http.call("POST", "/v1/events", json={"events": events})
    assert r.status_code == 202
    assert r.json()["accepted"] == 1 and r.json()["rejected"][0]["index"] == 1
    body = http.call("GET", "/v1/customers/buyer").json()
    assert body["stats"]["total_paid"] == "129.90" and "recent" in body["segments"]
    assert http.call("POST", "/v1/events", json={"events": events[:1]}).json()["duplicates"] == 1


@pytest.mark.parametrize("data, content_type", [("{nope", "application/json"),
                                                ("a,b", "text/csv")])
def test_bad_bodies_over_http_are_400_in_the_contract(http, data, content_type):
    r = http.call("POST", "/v1/events", data=data, headers={"Content-Type": content_type})
    assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error"


def test_an_unknown_path_is_a_404_in_the_contract_without_echoing_the_token(http):
    r = http.call("GET", "/v1/no-such-thing")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    assert "Bearer" not in r.text


def test_a_customer_id_percent_encoded_in_the_path_is_decoded_like_api_gateway(http):
    r = http.call("PUT", "/v1/customers/phone%3A%2B66812345678", json={"name": "Malee"})
    assert r.status_code == 201 and r.json()["customer_id"] == "phone:+66812345678"
    for path in ["/v1/customers/phone%3A%2B66812345678", "/v1/customers/phone:+66812345678"]:
        got = http.call("GET", path)
        assert got.status_code == 200
        assert (got.json()["customer_id"], got.json()["name"]) == ("phone:+66812345678", "Malee")
    # a '#' arrives decoded too, and is no id character: 400, never another seller's key
    r = http.call("GET", "/v1/customers/b%23c")
    assert r.status_code == 400 and r.json()["error"]["details"][0]["path"] == "customer_id"


@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND"])
def test_a_method_no_route_takes_is_405_in_the_contract_over_http(http, method):
    r = http.call(method, "/v1/customers/c1")
    assert r.status_code == 405, r.text[:200]
    assert r.json()["error"]["code"] == "method_not_allowed"
    assert set(r.headers["Allow"].replace(" ", "").split(",")) == {"GET", "PUT"}


def test_a_body_nested_10000_deep_is_400_over_http(http):
    data = '{"events": ' + "[" * 10_000 + "]" * 10_000 + "}"
    r = http.call("POST", "/v1/events", data=data, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error"
    assert "nested deeper" in r.json()["error"]["message"]


def test_roles_and_tenants_over_http(http):
    http.call("PUT", "/v1/customers/c1", json={"name": "mine"})
    assert http.as_role("viewer").call("PUT", "/v1/customers/c1", json={"name": "x"}).status_code == 403
    assert http.call("GET", "/v1/customers/demo-c0001").status_code == 404
    assert requests.get(http.base + "/v1/customers", timeout=10).status_code == 401


def _tgkill(pid: int, tid: int, sig: int) -> None:
    """Send ``sig`` to one thread of another process, as the kernel may when it picks which
    thread of the stack receives a Ctrl-C."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.tgkill(pid, tid, sig) != 0:
        raise OSError(ctypes.get_errno(), "tgkill")


def _gone(base: str) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            requests.get(f"{base}/health", timeout=2)
        except requests.ConnectionError:
            return True
        time.sleep(0.2)
    return False


def test_ctrl_c_stops_everything_it_started():
    from chalicelib.local.spawn import spawn

    started = spawn("--no-demo")
    assert requests.get(f"{started.base}/health", timeout=5).status_code == 200
    assert started.stop(timeout=90) == 0          # SIGINT, as Ctrl-C sends
    assert _gone(started.base)


def test_ctrl_c_stops_the_stack_whichever_thread_the_kernel_hands_it_to():
    """The CI failure of stop 20: Linux delivered SIGINT to a poller's thread while the main
    thread sat in one unbounded wait, which never ran the handler; the stack hung."""
    from chalicelib.local.spawn import spawn

    started = spawn("--no-demo")
    pid = started.proc.pid
    others = sorted(int(t) for t in os.listdir(f"/proc/{pid}/task") if int(t) != pid)
    assert others, "the stack runs its pollers in threads"
    _tgkill(pid, others[-1], signal.SIGINT)
    try:
        assert started.proc.wait(timeout=90) == 0
    finally:
        if started.proc.poll() is None:
            started.proc.kill()
    assert _gone(started.base)
