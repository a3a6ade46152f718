"""Audience export over HTTP on the real local stack: export a segment, poll until the exports
queue's poller has written it, download the CSV from the presigned URL (served by the local
moto server) and compare it with the members' phones hashed."""

from __future__ import annotations

import hashlib
import os
import uuid

import pytest
import requests

from tests.e2e.conftest import Http


@pytest.fixture(scope="module")
def queued_stack():
    """A local stack of its own where every export goes through the exports queue
    (CRM_EXPORT_INLINE_MEMBERS=0), so the poller's path is the one under test."""
    import tempfile

    from chalicelib.local.spawn import spawn

    log = tempfile.NamedTemporaryFile("w", prefix="e2e-exports-", suffix=".log", delete=False)
    before = os.environ.get("CRM_EXPORT_INLINE_MEMBERS")
    os.environ["CRM_EXPORT_INLINE_MEMBERS"] = "0"
    try:
        started = spawn(stderr=log)   # a loaded 2-core machine starts it slowly: the 600 s default
    finally:
        if before is None:
            os.environ.pop("CRM_EXPORT_INLINE_MEMBERS")
        else:
            os.environ["CRM_EXPORT_INLINE_MEMBERS"] = before
    yield started
    started.stop(timeout=20)
    log.close()


@pytest.fixture
def shop(queued_stack):
    return Http(queued_stack.base, f"e2e-{uuid.uuid4().hex[:8]}")


def test_an_export_is_written_by_the_queue_and_downloads_as_the_members_hashed_phones(
        shop, queued_stack):
    phones = {f"x{i:02d}": f"+6681234{i:04d}" for i in range(12)}
    for i, (cid, phone) in enumerate(phones.items()):
        body = {"age": 20 + i, **({"phone": phone} if i != 3 else {})}   # x03 has no phone
        assert shop.call("PUT", f"/v1/customers/{cid}", json=body).status_code == 201
    rule = {"attr": "age", "op": "lte", "value": 26}                     # x00..x06
    sid = shop.call("POST", "/v1/segments", json={"name": "Young", "rule": rule}).json()[
        "segment_id"]

    assert shop.as_role("operator").call(
        "POST", f"/v1/segments/{sid}/exports", json={"format": "hashed_phone"}).status_code == 403
    started = shop.call("POST", f"/v1/segments/{sid}/exports", json={"format": "hashed_phone"})
    assert started.status_code == 201, started.text
    assert started.json()["status"] == "running"
    export_id = started.json()["export_id"]

    def ready():
        body = shop.call("GET", f"/v1/exports/{export_id}").json()
        return body if body["status"] == "ready" else None

    done = shop.wait_for(ready, timeout=120)
    assert done, shop.call("GET", f"/v1/exports/{export_id}").json()
    assert (done["segment_id"], done["rows"]) == (sid, 6)
    url = done["download_url"]
    assert url.startswith(queued_stack.moto_url)
    got = requests.get(url, timeout=30)
    assert got.status_code == 200
    header, *lines = got.text.splitlines()
    members = [f"x{i:02d}" for i in range(7) if i != 3]
    assert header == "phone_sha256"
    assert lines == [hashlib.sha256(phones[c][1:].encode()).hexdigest() for c in members]
    assert shop.as_role("viewer").call("GET", f"/v1/exports/{export_id}").status_code == 403
