"""The local stack keeps what a person did between runs (docs/local-stack.md, "Between
runs"): a run stopped with Ctrl-C comes back as it was, the demo shop is loaded once, a
killed run (and a save it was killed in the middle of) breaks nothing, and --fresh starts
with only the demo shop. Each stack here is a real `python -m chalicelib.local` in a
subprocess with its own state directory, driven over HTTP."""

from __future__ import annotations

import os
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from chalicelib.local.spawn import spawn
from tests.e2e.conftest import Http

CUSTOM = "seg_demo_thai_winback"   # the demo shop's own custom segment
PARKED = "crm-local-events-dlq"


def _start(state_dir: Path, *args: str):
    log = tempfile.NamedTemporaryFile("w", prefix="e2e-state-", suffix=".log", delete=False)
    return spawn(*args, state_dir=state_dir, stderr=log, timeout=600)


def _pages(http: Http, path: str) -> list[dict]:
    items, cursor = [], None
    while True:
        got = http.call("GET", path + "?limit=200" + (f"&cursor={cursor}" if cursor else ""))
        assert got.status_code == 200, got.text
        items += got.json()["items"]
        cursor = got.json().get("next_cursor")
        if not cursor:
            return items


def _what_a_person_sees(http: Http) -> dict:
    """The shop as the API shows it: segments with their sizes (read from the columnar
    snapshot), every plan, the settings, and every customer id."""
    return {"segments": sorted((s["segment_id"], s["size"]) for s in _pages(http, "/v1/segments")),
            "plans": sorted(_pages(http, "/v1/plans"), key=lambda p: p["plan_id"]),
            "settings": http.call("GET", "/v1/settings").json(),
            "customers": sorted(c["customer_id"] for c in _pages(http, "/v1/customers"))}


def _moto(url: str, service: str):
    import boto3

    return boto3.client(service, endpoint_url=url, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


def _queued(moto_url: str) -> dict:
    """A DLQ's depth (nothing consumes a DLQ) and the pending schedules, as moto holds them."""
    sqs = _moto(moto_url, "sqs")
    url = sqs.get_queue_url(QueueName=PARKED)["QueueUrl"]
    depth = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    schedules = _moto(moto_url, "scheduler").list_schedules(GroupName="crm-local-plans")
    return {"visible": depth["ApproximateNumberOfMessages"],
            "delayed": depth["ApproximateNumberOfMessagesDelayed"],
            "schedules": sorted(s["Name"] for s in schedules["Schedules"])}


def _plain(settings: dict) -> dict:
    """Settings without when they were written (the demo shop is loaded anew)."""
    return {k: v for k, v in settings.items() if not k.endswith("_at")}


def _do_a_days_work(http: Http) -> None:
    settings = http.call("GET", "/v1/settings").json()
    settings.update(shop_name="Kept Between Runs", quiet_hours=None,
                    frequency_cap={"max_messages": 5, "per_days": 7})
    assert http.call("PUT", "/v1/settings", json=settings).status_code == 200, settings
    made = http.call("POST", "/v1/segments", json={
        "name": "Vietnamese speakers", "rule": {"attr": "language", "op": "eq", "value": "vi"}})
    assert made.status_code == 201, made.text
    segment = made.json()["segment_id"]
    plan = {"name": "Kept", "audience": {"segment_ids": [segment]}, "channels": ["chat"],
            "content": {"text": {"th": "สวัสดี {name}", "en": "Hi {name}"}},
            "product_ids": ["demo-p01"]}
    draft = http.call("POST", "/v1/plans", json={**plan, "action": "draft"})
    assert draft.status_code == 201 and draft.json()["status"] == "draft", draft.text
    later = (datetime.now(UTC) + timedelta(days=2)).isoformat()
    scheduled = http.call("POST", "/v1/plans", json={**plan, "send_at": later, "action": "send"})
    assert scheduled.status_code == 201 and scheduled.json()["status"] == "scheduled", scheduled.text
    sent = http.call("POST", "/v1/plans", json={**plan, "action": "send"}).json()
    status = lambda: http.call("GET", f"/v1/plans/{sent['plan_id']}").json()["status"]  # noqa: E731
    assert http.wait_for(lambda: status() == "sent", timeout=120), status()
    # The snapshot has caught up with the stream: the new segment has its members.
    assert http.wait_for(lambda: dict(_what_a_person_sees(http)["segments"])[segment] > 0,
                         timeout=60)


@pytest.fixture(scope="module")
def saved():
    """A first run from nothing: the demo shop, a day's work, then Ctrl-C."""
    state_dir = Path(tempfile.mkdtemp(prefix="crm-state-"))
    first = _start(state_dir)
    try:
        http = Http(first.base, "demo")
        demo_only = _what_a_person_sees(http)
        _do_a_days_work(http)
        after_work = _what_a_person_sees(http)
        # A message waiting in a DLQ and one still delayed there: both must survive.
        sqs = _moto(first.moto_url, "sqs")
        url = sqs.get_queue_url(QueueName=PARKED)["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody='{"parked": 1}')
        sqs.send_message(QueueUrl=url, MessageBody='{"parked": 2}', DelaySeconds=900)
        after_work["queued"] = _queued(first.moto_url)
    finally:
        assert first.stop(timeout=120) == 0
    yield state_dir, demo_only, after_work


def test_a_restarted_stack_brings_back_what_was_done_and_a_killed_run_breaks_nothing(saved):
    state_dir, demo_only, after_work = saved
    assert len(after_work["customers"]) == len(demo_only["customers"]) == 320
    assert after_work["settings"]["shop_name"] == "Kept Between Runs"
    assert {p["status"] for p in after_work["plans"]} >= {"draft", "scheduled", "sent"}
    assert after_work["queued"]["visible"] == after_work["queued"]["delayed"] == "1"
    assert len(after_work["queued"]["schedules"]) == 1     # the plan two days ahead

    second = _start(state_dir)
    try:
        assert "restored with the rest" in second.banner      # the demo shop: not loaded again
        http = Http(second.base, "demo")
        assert {**_what_a_person_sees(http), "queued": _queued(second.moto_url)} == after_work
        # Work after the save, then the process is killed: none of it is kept...
        assert http.call("POST", "/v1/segments", json={
            "name": "Lost", "rule": {"attr": "language", "op": "eq", "value": "en"}}
        ).status_code == 201
    finally:
        second.proc.kill()
        second.proc.wait()
    # ... and a save killed halfway (a directory the rename never published) is ignored.
    half = state_dir / f"saving-{os.getpid()}-20260101T000000000000Z"
    (half / "dynamodb").mkdir(parents=True)
    (half / "dynamodb" / "crm-local-plans.jsonl").write_text('{"pk": {"S": "de')

    third = _start(state_dir)
    try:
        assert {**_what_a_person_sees(Http(third.base, "demo")),
                "queued": _queued(third.moto_url)} == after_work
        assert not half.exists()
    finally:
        third.proc.kill()
        third.proc.wait()


def test_fresh_starts_with_only_the_demo_shop(saved):
    state_dir, demo_only, after_work = saved
    fresh = _start(state_dir, "--fresh")
    try:
        assert "nothing saved yet" in fresh.banner and not (state_dir / "current").exists()
        now = _what_a_person_sees(Http(fresh.base, "demo"))
        assert _plain(now["settings"]) == _plain(demo_only["settings"])
        assert now["settings"]["shop_name"] != after_work["settings"]["shop_name"]
        assert [p["plan_id"] for p in now["plans"]] == [p["plan_id"] for p in demo_only["plans"]]
        assert [s for s, _ in now["segments"]] == [s for s, _ in demo_only["segments"]]
        assert CUSTOM in dict(now["segments"]) and now["customers"] == demo_only["customers"]
    finally:
        fresh.proc.kill()
        fresh.proc.wait()


def test_make_run_passes_fresh_through():
    dry = subprocess.run(["make", "-n", "run", "FRESH=1"], capture_output=True, text=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert "-m chalicelib.local --fresh" in dry.stdout, dry.stdout
