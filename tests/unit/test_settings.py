"""Outside the offline stages (and anywhere on Lambda) the service refuses to start on the
local defaults: no secret or the local one, the chat channel that stores nowhere, missing ARNs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from chalicelib.settings import LOCAL_JWT_SECRET, Settings

ROOT = Path(__file__).resolve().parents[2]
REAL_SECRET = "k" * 48
DEPLOYED = {"jwt_secret": REAL_SECRET, "chat_channel": "http",
            "messaging_endpoint": "https://chat.example.test/send",
            "dispatch_queue_arn": "from-the-template", "scheduler_role_arn": "from-the-template",
            "snapshot_bucket": "from-the-template", "export_bucket": "from-the-template"}


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith("CRM_") or key == "AWS_LAMBDA_FUNCTION_NAME":
            monkeypatch.delenv(key)


@pytest.mark.parametrize("stage", ["dev", "prod"])
@pytest.mark.parametrize("secret, why", [
    (None, "no JWT secret"),
    (LOCAL_JWT_SECRET, "local default"),
    (f" {LOCAL_JWT_SECRET}\n", "local default"),
    ("", "shorter than 32 bytes"),
    ("x" * 31, "shorter than 32 bytes"),
])
def test_a_deployed_stage_refuses_to_start_without_a_real_jwt_secret(stage, secret, why):
    with pytest.raises(ValueError, match=f"stage '{stage}' refuses to serve: .*{why}"):
        Settings(stage=stage, **{**DEPLOYED, "jwt_secret": secret})


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_a_deployed_stage_with_a_32_byte_secret_or_an_ssm_parameter_starts(stage):
    assert Settings(stage=stage, **{**DEPLOYED, "jwt_secret": "x" * 32}).jwt_secret == "x" * 32
    by_name = Settings(stage=stage, **{**DEPLOYED, "jwt_secret": None,
                                       "jwt_secret_parameter": "/seller-crm/dev/jwt-secret"})
    assert by_name.jwt_secret is None and by_name.jwt_secret_parameter == "/seller-crm/dev/jwt-secret"


def test_a_deployed_stage_refuses_both_a_secret_and_a_parameter():
    with pytest.raises(ValueError, match="not both"):
        Settings(stage="dev", **DEPLOYED, jwt_secret_parameter="/seller-crm/dev/jwt-secret")


@pytest.mark.parametrize("changes, why", [
    ({"chat_channel": "local"}, "stores messages nowhere"),
    ({"messaging_endpoint": None}, "CRM_MESSAGING_ENDPOINT must be an https:// URL"),
    ({"messaging_endpoint": "http://chat.example.test/send"}, "must be an https:// URL"),
    ({"dispatch_queue_arn": None}, "CRM_DISPATCH_QUEUE_ARN is not set"),
    ({"scheduler_role_arn": None}, "CRM_SCHEDULER_ROLE_ARN is not set"),
    ({"snapshot_bucket": None}, "CRM_SNAPSHOT_BUCKET is not set"),
    ({"export_bucket": None}, "CRM_EXPORT_BUCKET is not set"),
])
def test_a_deployed_stage_refuses_the_local_chat_channel_and_missing_arns(changes, why):
    with pytest.raises(ValueError, match=why):
        Settings(stage="dev", **{**DEPLOYED, **changes})


def test_an_unknown_stage_is_a_deployment_and_is_checked_too():
    with pytest.raises(ValueError, match="stage 'staging' refuses to serve"):
        Settings(stage="staging")


@pytest.mark.parametrize("stage", ["local", "test", "bench"])
def test_offline_stages_default_to_the_local_secret_and_channel(stage):
    cfg = Settings(stage=stage)
    assert (cfg.jwt_secret, cfg.chat_channel) == (LOCAL_JWT_SECRET, "local")


@pytest.mark.parametrize("stage, packaging", [("local", False), ("test", False), ("dev", True)])
def test_offline_stages_and_packaging_refuse_to_run_on_lambda(monkeypatch, stage, packaging):
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "crm-dev-APIHandler-X")
    with pytest.raises(ValueError, match="refuses to run on Lambda"):
        Settings(stage=stage, packaging=packaging)


def test_packaging_a_deployed_stage_needs_none_of_its_settings():
    assert Settings(stage="dev", packaging=True).prefix == "crm-dev-"


@pytest.mark.parametrize("env", [
    {},
    {"CRM_JWT_SECRET": LOCAL_JWT_SECRET},
    {"CRM_JWT_SECRET": REAL_SECRET, "CRM_CHAT_CHANNEL": "local"},
])
def test_the_app_refuses_to_import_on_dev_with_local_defaults(env):
    """What a Lambda cold start does: import app. It fails, so no request is ever served."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CRM_")}
    run = subprocess.run([sys.executable, "-c", "import app"], cwd=ROOT, capture_output=True,
                         text=True, timeout=120, env={**clean, "CRM_STAGE": "dev", **env})
    assert run.returncode != 0
    assert "stage 'dev' refuses to serve" in run.stderr


@pytest.mark.parametrize("changes, why", [
    ({"phone_channel": "local"}, "CRM_PHONE_CHANNEL='local' records SMS and voice"),
    ({"price_sms": "0.0351"}, "CRM_PRICE_SMS must be 0–100 with at most three decimal places"),
    ({"price_voice": "-1"}, "CRM_PRICE_VOICE must be"),
])
def test_a_deployed_stage_refuses_the_local_sms_voice_channel_and_bad_prices(changes, why):
    with pytest.raises(ValueError, match=why):
        Settings(stage="dev", **{**DEPLOYED, **changes})


def test_sms_and_voice_are_local_offline_and_aws_on_a_deployment_by_default():
    assert Settings(stage="test").phone_channel == "local"
    deployed = Settings(stage="prod", **DEPLOYED)
    assert deployed.phone_channel == "aws"
    assert (str(deployed.price_sms), str(deployed.price_voice)) == ("0.035", "0.200")
