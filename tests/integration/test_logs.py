"""Logs (docs/operations.md): Powertools JSON lines with seller and plan ids, never a phone
number or a name, at the level settings ask for."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.delivery_support import create_plan, run_pipeline

# Known people: each phone in the forms it may take (as typed in a file, E.164, national).
PEOPLE = [("Malee Srisuk", "+66 81-234-5678", "+66812345678", "0812345678"),
          ("Somchai Jaidee", "(081) 234 5679", "+66812345679", "0812345679"),
          ("Nguyen Van An", "+84 91 234 5678", "+84912345678", "0912345678")]


def captured(capsys, caplog) -> str:
    out, err = capsys.readouterr()
    return out + err + caplog.text


def json_lines(text: str) -> list[dict]:
    out = []
    for line in text.splitlines():
        try:
            data = json.loads(line)
        except ValueError:
            continue
        if isinstance(data, dict):
            out.append(data)
    return out


def assert_no_personal_data(text: str) -> None:
    for name, typed, e164, national in PEOPLE:
        for secret in (name, name.split()[0], name.split()[-1], typed, e164, national,
                       e164.replace("+", "%2B")):
            assert secret not in text, f"{secret!r} appears in the logs"


def test_logs_of_a_plan_send_and_an_import_carry_ids_and_no_phone_or_name(api, app, capsys,
                                                                             caplog):
    caplog.set_level(logging.INFO)      # every library logger at INFO too, not only ours
    assert api.post("/v1/tags", {"name": "vip", "dimension": "custom"}).status_code == 201
    rows = "\n".join(f'"{typed}",vip,{name}' for name, typed, _, _ in PEOPLE)
    r = api.post("/v1/imports?default_region=TH", raw=f"phone,tags,name\n{rows}\n".encode(),
                 headers={"Content-Type": "text/csv"})
    assert r.status_code == 201 and r.json["imported"] == 3, r.json
    import_id = r.json["import_id"]
    # The imported customers (ids phone:<E.164>) follow the shop, then a plan greets them by name.
    yesterday = (datetime.now(UTC) - timedelta(days=1)).isoformat()
    events = [{"event_id": f"f-{e164}", "type": "followed", "customer_id": f"phone:{e164}",
               "occurred_at": yesterday} for _, _, e164, _ in PEOPLE]
    assert api.post("/v1/events", {"events": events}).status_code == 202
    plan = create_plan(api)
    run_pipeline(app)
    inbox = api.get(f"/v1/customers/phone:{PEOPLE[0][2]}/inbox").json["items"]
    assert len(inbox) == 1 and "Malee Srisuk" in inbox[0]["text"]   # the message did go out

    text = captured(capsys, caplog)
    lines = json_lines(text)
    ours = [line for line in lines if line.get("seller_id") == api.seller_id]
    assert ours and all(line["service"] == "seller-crm" and "level" in line for line in ours)
    assert any(line.get("import_id") == import_id for line in ours)
    assert any(line.get("plan_id") == plan["plan_id"] for line in ours)
    assert {"plan sent", "chunk sent", "import done"} <= {line["message"] for line in ours}
    assert_no_personal_data(text)


@pytest.mark.parametrize("fields", [
    {"phone": "+66812345678"},
    {"name": "Malee Srisuk"},
    {"customer_name": "Malee Srisuk", "first_name": "Malee", "last_name": "Srisuk"},
    {"customer": {"name": "Malee Srisuk", "phone_number": "0812345678"}},
    {"recipients": [{"name": "Somchai Jaidee", "phone": "+66812345679"}]},
    {"text": "Hi Malee Srisuk, your rice is ready"},
    {"customer_id": "phone:+66812345678"},
    {"path": "/v1/customers/phone%3A%2B66812345678"},
    {"error": "no customer with phone 081-234-5678"},
])
def test_a_phone_or_name_passed_to_the_logger_is_never_emitted(fields, capsys):
    from chalicelib.logs import get_logger, log

    log(get_logger("test"), "customer changed", seller_id="s-1", plan_id="p-1", **fields)
    err = capsys.readouterr().err
    line = json.loads(err.strip().splitlines()[-1])
    assert (line["seller_id"], line["plan_id"], line["message"]) == ("s-1", "p-1",
                                                                    "customer changed")
    for secret in ("Malee", "Srisuk", "Somchai", "812345678", "812345679", "81-234-5678"):
        assert secret not in err


def test_an_exception_message_holding_a_phone_is_masked_in_the_log(capsys):
    from chalicelib.logs import get_logger

    try:
        raise RuntimeError("customer phone:+66812345678 kept changing under us")
    except RuntimeError:
        get_logger("test").exception("update failed", extra={"fields": {"seller_id": "s-1"}})
    err = capsys.readouterr().err
    line = json.loads(err.strip().splitlines()[-1])
    assert line["seller_id"] == "s-1" and line["exception_name"] == "RuntimeError"
    assert "812345678" not in err


LEVEL_SCRIPT = """
from chalicelib.logs import get_logger, log
import logging
logger = get_logger("probe")
log(logger, "debug line", logging.DEBUG)
log(logger, "info line")
log(logger, "warning line", logging.WARNING)
"""


@pytest.mark.parametrize("level,shown", [
    ("DEBUG", ["debug line", "info line", "warning line"]),
    ("INFO", ["info line", "warning line"]),
    ("warning", ["warning line"]),
    ("ERROR", []),
])
def test_the_log_level_of_settings_is_honoured(level, shown):
    from tests.e2e.conftest import ROOT

    done = subprocess.run([sys.executable, "-c", LEVEL_SCRIPT], cwd=ROOT, capture_output=True,
                          text=True, timeout=120, env={"CRM_LOG_LEVEL": level, "PATH": "/usr/bin",
                                                       "CRM_STAGE": "test"})
    assert done.returncode == 0, done.stderr
    assert [line["message"] for line in json_lines(done.stderr)] == shown


def test_powertools_stays_out_of_the_cold_import_until_a_line_or_a_metric_is_written():
    """The API's cold import budget (app.py ≤ 1.5× boto3, bench_foundation): Powertools'
    logging and metrics load with the first log line or counter, and that first line is
    still Powertools' scrubbed JSON."""
    import subprocess
    import sys
    from pathlib import Path

    code = ("import json, sys, app\n"
            "print(sorted(m for m in sys.modules if m.startswith('aws_lambda_powertools')))\n"
            "from chalicelib.logs import get_logger, log\n"
            "log(get_logger('probe'), 'first line', seller_id='s1', phone='+66812345678')\n")
    out = subprocess.run([sys.executable, "-c", code], cwd=Path(__file__).resolve().parents[2],
                         capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]", out.stdout
    line = json.loads(out.stderr.strip().splitlines()[-1])
    assert (line["message"], line["seller_id"], line["phone"]) == ("first line", "s1",
                                                                   "[redacted]")
    assert line["logger"].endswith(".probe")
