"""The production chat adapter: each message POSTed to the messaging endpoint with the
delivery key as Idempotency-Key, so a re-send after a crash is recognised there."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.integration.delivery_support import create_plan, run_pipeline, seed_followers


class Recorder(BaseHTTPRequestHandler):
    calls: list[dict] = []
    reject: set[str] = set()

    def do_POST(self):  # noqa: N802 (http.server's naming)
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        Recorder.calls.append({"key": self.headers.get("Idempotency-Key"), "body": body})
        status = 422 if body["customer_id"] in Recorder.reject else 202
        self.send_response(status)
        self.end_headers()

    def log_message(self, *args):
        pass


@pytest.fixture
def endpoint(monkeypatch):
    from chalicelib.settings import settings

    server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Recorder.calls, Recorder.reject = [], set()
    monkeypatch.setattr(settings(), "chat_channel", "http")
    monkeypatch.setattr(settings(), "messaging_endpoint",
                        f"http://127.0.0.1:{server.server_address[1]}/messages")
    yield Recorder
    server.shutdown()


def test_http_channel_posts_each_message_with_the_delivery_key(api, app, endpoint):
    ids = seed_followers(api, 4)
    endpoint.reject = {ids[3]}
    plan = create_plan(api)
    run_pipeline(app, duplicate=True)
    keys = [c["key"] for c in endpoint.calls]
    assert set(keys) == {f"{plan['plan_id']}#{c}#chat" for c in ids}
    by_key = {}
    for call in endpoint.calls:       # a repeated key always carries the same message
        assert by_key.setdefault(call["key"], call["body"]) == call["body"]
    assert {b["customer_id"] for b in by_key.values()} == set(ids)
    perf = api.get(f"/v1/plans/{plan['plan_id']}/performance").json
    assert perf["delivered"] == 3 and perf["failed"] == 1
    failed = api.get(f"/v1/plans/{plan['plan_id']}/deliveries?status=failed").json["items"]
    assert [(f["customer_id"], f["reason"]) for f in failed] == [(ids[3], "rejected_422")]
    assert api.get(f"/v1/customers/{ids[0]}/inbox").json["items"] == []   # not the local inbox


def test_unreachable_endpoint_retries_the_chunk_instead_of_failing_recipients(api, app, monkeypatch):
    from datetime import UTC, datetime

    from chalicelib.delivery import worker
    from chalicelib.delivery.channels import TransientChannelError
    from chalicelib.settings import settings

    seed_followers(api, 2)
    plan = create_plan(api)
    monkeypatch.setattr(settings(), "chat_channel", "http")
    monkeypatch.setattr(settings(), "messaging_endpoint", "http://127.0.0.1:9/nothing-listens")
    from tests.integration.delivery_support import pump

    pump(app, "dispatch")
    with pytest.raises(TransientChannelError):
        worker.deliver_chunk(api.seller_id, plan["plan_id"], 0, datetime.now(UTC))
    monkeypatch.setattr(settings(), "chat_channel", "local")
    run_pipeline(app)      # the claim was released: the retry delivers at once
    perf = api.get(f"/v1/plans/{plan['plan_id']}/performance").json
    assert perf["delivered"] == 2 and perf["failed"] == 0
