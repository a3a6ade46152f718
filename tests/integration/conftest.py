"""Integration tests: the real handlers and stores against moto (in-process), one seller per test.

Each test gets its own seller id, so tests share one moto backend without seeing each
other's data (which is also what tenant isolation promises).
"""

from __future__ import annotations

import json
import uuid

import pytest
from moto import mock_aws


@pytest.fixture(scope="session")
def aws():
    with mock_aws():
        from chalicelib.local.moto_fixes import install_all
        from chalicelib.local.scheduler import create_group
        from chalicelib.store import queues, tables

        # As the local stack runs moto; atomic item writes among them: the code's own
        # conditional writes run on threads (store/transact.write_each), so the in-process
        # backend needs DynamoDB's per-item atomicity for the session.
        install_all()
        tables.create_all()
        queues.create_all(local_visibility=1)
        create_group()
        yield


@pytest.fixture(scope="session")
def app(aws):
    from app import app as chalice_app

    return chalice_app


@pytest.fixture
def atomic_moto(monkeypatch):
    """DynamoDB's conditional writes are atomic per item; moto's in-process backend needs a
    lock for that (chalicelib/local/moto_fixes.py), as the local stack installs."""
    from chalicelib.local.moto_fixes import atomic_item_writes

    atomic_item_writes(monkeypatch.setattr)


@pytest.fixture
def seller():
    return f"s-{uuid.uuid4().hex[:10]}"


class Api:
    """A tiny JSON client over chalice.test.Client for one seller and role."""

    def __init__(self, client, seller_id: str, role: str = "owner") -> None:
        self.client, self.seller_id, self.role = client, seller_id, role

    def as_role(self, role: str) -> Api:
        return Api(self.client, self.seller_id, role)

    def as_seller(self, seller_id: str) -> Api:
        return Api(self.client, seller_id, self.role)

    def headers(self, extra: dict | None = None) -> dict:
        from chalicelib.api.auth import mint_token

        token = mint_token(self.seller_id, self.role, sub=f"user-{self.role}")
        return {"Authorization": f"Bearer {token}", "Content-Type": "application/json",
                **(extra or {})}

    def call(self, method: str, path: str, body=None, headers: dict | None = None, raw=None):
        data = raw if raw is not None else (json.dumps(body) if body is not None else None)
        response = getattr(self.client.http, method.lower())(
            path, headers=self.headers(headers), body=data)
        response.json = json.loads(response.body) if response.body else None
        return response

    def get(self, path, **kw):
        return self.call("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.call("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.call("PUT", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.call("PATCH", path, body, **kw)

    def delete(self, path, **kw):
        return self.call("DELETE", path, **kw)


@pytest.fixture
def client(app):
    from chalice.test import Client

    # Chalice's test client swaps os.environ for a copy with the stage's variables around each
    # call, which threads making concurrent calls can leave behind: name a stage without any
    # (the default, "dev", would leak CRM_STAGE=dev into the rest of the session).
    with Client(app, stage_name="test") as c:
        yield c


@pytest.fixture
def api(client, seller):
    return Api(client, seller)


class SnapshotApi(Api):
    """An Api that lets the columnar snapshot catch up before every call (the customers
    stream drained through its consumer). With the read margin at 0 (the ``audience_api``
    fixture), audience reads then take the customers from the snapshot's files and only the
    few changed since its watermarks from the table."""

    def __init__(self, client, seller_id: str, role: str = "owner", catch_up=None) -> None:
        super().__init__(client, seller_id, role)
        self.catch_up = catch_up

    def as_role(self, role: str) -> Api:
        return SnapshotApi(self.client, self.seller_id, role, self.catch_up)

    def as_seller(self, seller_id: str) -> Api:
        return SnapshotApi(self.client, seller_id, self.role, self.catch_up)

    def call(self, method: str, path: str, body=None, headers: dict | None = None, raw=None):
        if method == "GET" or path in ("/v1/segments/preview", "/v1/tags/bulk"):
            self.catch_up()    # before the reads only: the writes before a read land at once
        return super().call(method, path, body, headers, raw)


@pytest.fixture(params=["table", "snapshot"])
def audience_api(request, client, seller, app, monkeypatch):
    """The same tests over both audience sources: "table", no snapshot caught up (every
    customer read from the table: a stream that lags behind everything), and "snapshot",
    caught up before every call with no margin (customers read from the Parquet files)."""
    if request.param == "table":
        return Api(client, seller)
    from chalicelib.store import snapshots

    monkeypatch.setattr(snapshots, "MARGIN_MS", 0)
    drain_stream(app, fresh=True)
    return SnapshotApi(client, seller, "owner", lambda: drain_stream(app))


def drain(app, queue_short: str, max_rounds: int = 200) -> int:
    """Run the app's handler for one queue until the queue is empty (like the local poller)."""
    from chalicelib.local.pollers import Poller, sqs_handlers
    from chalicelib.settings import settings
    from chalicelib.store.aws import client as aws_client

    name = settings().queue_name(queue_short)
    handler, batch = next((h, b) for q, h, b in sqs_handlers(app) if q == name)
    sqs = aws_client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    poller = Poller(name, handler, batch, stop=None)
    handled = 0
    for _ in range(max_rounds):
        got = poller.poll_once(sqs, url, arn)
        if not got:
            break
        handled += got
    return handled


_stream_poller = None


def drain_stream(app, max_rounds: int = 200, fresh: bool = False) -> int:
    """Run the app's customers-stream handler over every record not consumed yet (like the
    local stack's stream poller) until none is left or a batch fails; returns the records
    handled. The first call of the session starts from the stream's end (the records of
    tests that ran before are not consumed); the ``stream`` fixture makes that call first."""
    global _stream_poller
    from chalicelib import snapshots
    from chalicelib.local.pollers import StreamPoller, dynamodb_handlers

    if fresh:
        # A test's own records only: start at the stream's end. A poller left behind by an
        # earlier test file (other files write without draining) would find its position
        # trimmed (moto_fixes.bounded_streams) and rebuild every snapshot mid-test.
        _stream_poller = None
    if _stream_poller is None:
        table, handler, batch = dynamodb_handlers(app)[0]
        _stream_poller = StreamPoller(table, handler, batch, stop=None,
                                      on_trimmed=snapshots.rebuild_all, start="LATEST")
        _stream_poller.poll_once()
    handled = 0
    for _ in range(max_rounds):
        got = _stream_poller.poll_once()
        if not got:
            break
        handled += got
    return handled


@pytest.fixture
def stream(app):
    """``drain_stream`` bound to the app, its position taken at the stream's end before the
    test writes anything (the records of earlier tests are skipped: their sellers are not
    this test's)."""
    drain_stream(app, fresh=True)
    return lambda: drain_stream(app)
