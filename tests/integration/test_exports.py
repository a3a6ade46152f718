"""Audience export over the API against moto (API.md "Overview, segment performance, audience
export"; docs/segments.md, "Audience export"): the file's exact lines, roles, 404s and 400s,
the queue path, and idempotency under duplicate delivery, concurrency and crashes."""

from __future__ import annotations

import hashlib
import json
import threading
import time

import pytest

from chalicelib.settings import settings

PHONES = {"c1": "+66812345601", "c2": "+66812345602", "c3": "+66812345603",
          "c4": None, "c5": "+66812345605"}
ADULTS = {"attr": "age", "op": "gte", "value": 18}


@pytest.fixture
def api(audience_api):
    """Every test here runs over both audience sources (the columnar snapshot included)."""
    return audience_api


@pytest.fixture
def shop(api):
    """c1, c2, c4 (no phone) and c5 adults; c3 a teen."""
    ages = {"c1": 30, "c2": 45, "c3": 16, "c4": 50, "c5": 22}
    for cid, phone in PHONES.items():
        body = {"age": ages[cid], **({"phone": phone} if phone else {})}
        assert api.put(f"/v1/customers/{cid}", body).status_code in (200, 201)
    r = api.post("/v1/segments", {"name": "Adults", "rule": ADULTS})
    assert r.status_code == 201, r.json
    return api, r.json["segment_id"]


def hashed(*cids: str) -> list[str]:
    """What the file must hold for these members, by an independent computation."""
    return sorted(hashlib.sha256(PHONES[c][1:].encode()).hexdigest() for c in cids)


def file_lines(api, export_id: str) -> list[str]:
    from chalicelib.store import exports as store

    item = store.get(api.seller_id, export_id)
    text = store.read_object(item.key).decode()
    header, *lines = text.splitlines()
    assert header == "phone_sha256" and text.endswith("\n")
    return lines


@pytest.fixture
def queued(monkeypatch):
    """Every export larger than one member goes through the exports queue."""
    monkeypatch.setattr(settings(), "export_inline_members", 1)


def test_an_export_is_one_sha256_line_per_member_with_a_phone(shop):
    api, segment = shop
    r = api.post(f"/v1/segments/{segment}/exports", {"format": "hashed_phone"})
    assert r.status_code == 201, r.json
    assert set(r.json) == {"export_id", "status", "rows"}
    assert (r.json["status"], r.json["rows"]) == ("ready", 3)          # small: written inline
    got = api.get(f"/v1/exports/{r.json['export_id']}")
    assert got.status_code == 200
    assert set(got.json) == {"export_id", "segment_id", "status", "rows", "download_url"}
    assert (got.json["segment_id"], got.json["status"], got.json["rows"]) == (segment, "ready", 3)
    assert "X-Amz-Expires=3600" in got.json["download_url"]             # one hour, SigV4
    # c1, c2, c5 (c4 has no phone, c3 is no member), in customer id order
    lines = file_lines(api, r.json["export_id"])
    assert lines == [hashlib.sha256(PHONES[c][1:].encode()).hexdigest() for c in ("c1", "c2", "c5")]
    assert sorted(lines) == hashed("c1", "c2", "c5")


def test_a_builtin_segment_exports_too_and_an_empty_one_is_just_the_header(api):
    from datetime import UTC, datetime

    assert api.put("/v1/customers/n1", {"phone": "+66812345699"}).status_code in (200, 201)
    followed = {"event_id": "n1-f", "type": "followed", "customer_id": "n1",
                "occurred_at": datetime.now(UTC).isoformat().replace("+00:00", "Z")}
    assert api.post("/v1/events", {"events": [followed]}).status_code == 202
    r = api.post("/v1/segments/new_followers/exports", {"format": "hashed_phone"})
    assert r.status_code == 201 and r.json["rows"] == 1
    empty = api.post("/v1/segments/loyal/exports", {"format": "hashed_phone"})
    assert (empty.status_code, empty.json["status"], empty.json["rows"]) == (201, "ready", 0)
    assert file_lines(api, empty.json["export_id"]) == []


@pytest.mark.parametrize("role, status", [
    ("viewer", 403), ("operator", 403), ("admin", 201), ("owner", 201)])
def test_only_an_admin_or_the_owner_may_export_or_read_an_export(shop, role, status):
    api, segment = shop
    r = api.as_role(role).post(f"/v1/segments/{segment}/exports", {"format": "hashed_phone"})
    assert r.status_code == status, r.json
    export_id = api.post(f"/v1/segments/{segment}/exports", {"format": "hashed_phone"}).json[
        "export_id"]
    assert api.as_role(role).get(f"/v1/exports/{export_id}").status_code == (
        200 if status == 201 else 403)
    if status == 403:
        assert r.json["error"]["code"] == "forbidden"


def test_a_sub_account_admin_without_the_customers_permission_gets_403(client, shop):
    from chalicelib.api.auth import mint_token

    api, segment = shop
    for permissions, status in (([], 403), (["orders"], 403), (["customers"], 201)):
        token = mint_token(api.seller_id, "admin", sub="sub", permissions=permissions)
        r = client.http.post(f"/v1/segments/{segment}/exports", body=json.dumps(
            {"format": "hashed_phone"}), headers={"Authorization": f"Bearer {token}",
                                                  "Content-Type": "application/json"})
        assert r.status_code == status, (permissions, r.body)


def test_unknown_and_other_sellers_segments_and_exports_are_404(shop):
    api, segment = shop
    other = api.as_seller(api.seller_id + "-other")
    body = {"format": "hashed_phone"}
    assert api.post("/v1/segments/seg_nope/exports", body).status_code == 404
    assert other.post(f"/v1/segments/{segment}/exports", body).status_code == 404
    mine = api.post(f"/v1/segments/{segment}/exports", body).json["export_id"]
    r = other.get(f"/v1/exports/{mine}")
    assert (r.status_code, r.json["error"]["code"]) == (404, "not_found")
    assert api.get("/v1/exports/exp_nope").status_code == 404


@pytest.mark.parametrize("body, path", [
    ({"format": "email"}, "format"),
    ({"format": "HASHED_PHONE"}, "format"),
    ({}, "format"),
    ({"format": None}, "format"),
    ([], ""),
])
def test_an_unknown_or_missing_format_is_400_naming_it(shop, body, path):
    api, segment = shop
    r = api.post(f"/v1/segments/{segment}/exports", body)
    assert (r.status_code, r.json["error"]["code"]) == (400, "validation_error"), r.json
    assert path in [d["path"] for d in r.json["error"]["details"]]


def test_an_expired_export_is_not_found(shop, monkeypatch):
    from chalicelib.domain import exports as rules

    api, segment = shop
    export_id = api.post(f"/v1/segments/{segment}/exports", {"format": "hashed_phone"}).json[
        "export_id"]
    monkeypatch.setattr(rules, "EXPIRY_MS", 0)
    assert api.get(f"/v1/exports/{export_id}").status_code == 404


def test_a_large_export_runs_through_the_queue(shop, app, queued):
    from tests.integration.conftest import drain

    api, segment = shop
    r = api.post(f"/v1/segments/{segment}/exports", {"format": "hashed_phone"})
    assert (r.status_code, r.json["status"], r.json["rows"]) == (201, "running", None)
    running = api.get(f"/v1/exports/{r.json['export_id']}").json
    assert (running["status"], running["rows"], running["download_url"]) == ("running", None, None)
    assert drain(app, "exports") >= 1
    ready = api.get(f"/v1/exports/{r.json['export_id']}").json
    assert (ready["status"], ready["rows"]) == ("ready", 3) and ready["download_url"]
    assert sorted(file_lines(api, r.json["export_id"])) == hashed("c1", "c2", "c5")


# ----- idempotency ------------------------------------------------------------------------------

class Crash(Exception):
    """An injected crash (the process 'dies' here)."""


def queued_export(api, segment) -> tuple[str, str]:
    """A running export and its queue message body (the queue itself is left alone)."""
    r = api.post(f"/v1/segments/{segment}/exports", {"format": "hashed_phone"})
    assert r.json["status"] == "running"
    return r.json["export_id"], json.dumps({"seller_id": api.seller_id,
                                            "export_id": r.json["export_id"]})


def state(api, export_id: str) -> tuple:
    """(status, rows, ready_at, the object's ETag or None)."""
    from chalicelib.store import exports as store
    from chalicelib.store.aws import client

    item = store.get(api.seller_id, export_id)
    try:
        etag = client("s3").head_object(Bucket=store.bucket(), Key=item.key)["ETag"]
    except Exception:
        etag = None
    return item.status, item.rows, item.ready_at, etag


def test_a_duplicate_message_changes_nothing_and_the_status_flips_once(shop, queued):
    from datetime import UTC, datetime

    from chalicelib.services import exports

    api, segment = shop
    export_id, body = queued_export(api, segment)
    now = datetime.now(UTC)
    assert exports.handle_message(body, now) == "ready"
    first = state(api, export_id)
    assert exports.handle_message(body, now) == "ignored"
    assert state(api, export_id) == first and first[:2] == ("ready", 3)


def test_concurrent_duplicates_write_one_object_and_flip_once(shop, queued, atomic_moto):
    from datetime import UTC, datetime

    from chalicelib.services import exports
    from chalicelib.store import exports as store

    api, segment = shop
    export_id, _ = queued_export(api, segment)
    item = store.get(api.seller_id, export_id)      # both runs start from the running record
    results: list[str] = []
    start = threading.Barrier(2)

    def run() -> None:
        copy = store.get(api.seller_id, export_id)
        start.wait()
        results.append(exports.write(copy, {"c1", "c2", "c4", "c5"},
                                     int(datetime.now(UTC).timestamp() * 1000)))

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["already_ready", "ready"]
    assert item.status == "running" and state(api, export_id)[:2] == ("ready", 3)
    assert sorted(file_lines(api, export_id)) == hashed("c1", "c2", "c5")


def test_a_crash_mid_export_leaves_no_file_and_the_rerun_writes_it_whole(shop, queued, app,
                                                                        monkeypatch):
    from chalicelib.store import exports as store
    from tests.integration.conftest import drain

    api, segment = shop
    monkeypatch.setattr(store, "BATCH_KEYS", 1)      # one member a read: crash after the first
    monkeypatch.setattr(store, "PARALLEL", 1)
    original, calls = store.batch_get_pks, []

    def dies_on_the_second_read(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise Crash("mid-export")
        return original(*args, **kwargs)

    monkeypatch.setattr(store, "batch_get_pks", dies_on_the_second_read)
    export_id, _ = queued_export(api, segment)
    drain(app, "exports", max_rounds=1)               # the first delivery crashes
    assert state(api, export_id) == ("running", None, None, None)
    deadline = time.monotonic() + 30                   # redelivered after its visibility timeout
    while state(api, export_id)[0] != "ready" and time.monotonic() < deadline:
        drain(app, "exports")
        time.sleep(0.2)
    status, rows, ready_at, etag = state(api, export_id)
    assert (status, rows) == ("ready", 3) and ready_at and etag
    assert sorted(file_lines(api, export_id)) == hashed("c1", "c2", "c5")


def test_a_crash_between_the_file_and_the_flip_reruns_to_the_same_object_and_rows(
        shop, queued, monkeypatch):
    from datetime import UTC, datetime

    from chalicelib.services import exports
    from chalicelib.store import exports as store

    api, segment = shop
    export_id, body = queued_export(api, segment)
    original = store.mark_ready

    def dies(*args, **kwargs):
        raise Crash("before the flip")

    monkeypatch.setattr(store, "mark_ready", dies)
    with pytest.raises(Crash):
        exports.handle_message(body, datetime.now(UTC))
    status, rows, _, etag = state(api, export_id)
    assert (status, rows) == ("running", None) and etag      # the file is there, not the flip
    before = file_lines(api, export_id)
    # A customer joins the segment before the re-run: the file that stands is not rewritten,
    # and the rows are its rows.
    assert api.put("/v1/customers/c6", {"age": 60, "phone": "+66812345606"}).status_code == 201
    monkeypatch.setattr(store, "mark_ready", original)
    writes = []
    put = store.write_once
    monkeypatch.setattr(store, "write_once", lambda *a: writes.append(1) or put(*a))
    assert exports.handle_message(body, datetime.now(UTC)) == "ready"
    assert writes == []
    assert state(api, export_id)[:2] == ("ready", 3) and state(api, export_id)[3] == etag
    assert file_lines(api, export_id) == before
    assert exports.handle_message(body, datetime.now(UTC)) == "ignored"
