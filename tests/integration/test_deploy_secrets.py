"""On a deployed stage the JWT secret is a real one, from SSM read once per cold start; a token
signed with the local default is never accepted there."""

from __future__ import annotations

import json
import time
import uuid

import jwt
import pytest

from chalicelib.settings import LOCAL_JWT_SECRET, settings
from chalicelib.store import secrets
from chalicelib.store.aws import client as aws_client


def _token(key: str, seller: str) -> str:
    now = int(time.time())
    return jwt.encode({"sub": "u", "seller_id": seller, "role": "owner", "iat": now,
                       "exp": now + 600}, key, algorithm="HS256")


def _get(client, key: str, seller: str):
    response = client.http.get("/v1/segments", headers={"Authorization": f"Bearer {_token(key, seller)}"})
    return response.status_code, json.loads(response.body)


@pytest.fixture
def dev_stage(aws, monkeypatch):
    """This process as a dev deployment's cold start sees it (the ARNs are placeholders: these
    tests stop at authentication). Table names stay the test stage's (bound at import)."""
    aws_client("ssm")   # made now: the dev settings below are only complete once a test sets its secret
    for key, value in {"CRM_STAGE": "dev", "CRM_CHAT_CHANNEL": "http",
                       "CRM_MESSAGING_ENDPOINT": "https://chat.example.test/send",
                       "CRM_DISPATCH_QUEUE_ARN": "set-by-the-template",
                       "CRM_SCHEDULER_ROLE_ARN": "set-by-the-template",
                       "CRM_SNAPSHOT_BUCKET": "set-by-the-template",
                       "CRM_EXPORT_BUCKET": "set-by-the-template"}.items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("CRM_JWT_SECRET", raising=False)
    settings.cache_clear()
    secrets.forget()
    yield monkeypatch
    monkeypatch.undo()
    settings.cache_clear()
    secrets.forget()


def _use(env, **values: str) -> None:
    for key, value in values.items():
        env.setenv(key, value)
    settings.cache_clear()


def test_a_token_signed_with_the_local_secret_gets_401_on_dev(dev_stage, client, seller):
    real = uuid.uuid4().hex * 2
    _use(dev_stage, CRM_JWT_SECRET=real)
    status, body = _get(client, LOCAL_JWT_SECRET, seller)
    assert status == 401 and body["error"]["code"] == "unauthorized"
    assert _get(client, real, seller)[0] == 200


def test_the_jwt_secret_comes_from_ssm_and_is_read_once_per_cold_start(dev_stage, client, seller):
    name = f"/seller-crm/dev/jwt-secret-{uuid.uuid4().hex[:6]}"
    first, rotated = uuid.uuid4().hex * 2, uuid.uuid4().hex * 2
    ssm = aws_client("ssm")
    ssm.put_parameter(Name=name, Value=first, Type="SecureString")
    _use(dev_stage, CRM_JWT_SECRET_PARAMETER=name)
    assert _get(client, first, seller)[0] == 200
    assert _get(client, LOCAL_JWT_SECRET, seller)[0] == 401

    ssm.put_parameter(Name=name, Value=rotated, Type="SecureString", Overwrite=True)
    assert _get(client, first, seller)[0] == 200          # this process read it once
    assert _get(client, rotated, seller)[0] == 401
    secrets.forget()                                      # a new cold start
    assert _get(client, rotated, seller)[0] == 200
    assert _get(client, first, seller)[0] == 401


@pytest.mark.parametrize("value", [LOCAL_JWT_SECRET, "too-short"])
def test_an_ssm_secret_that_is_the_local_default_or_weak_refuses_to_serve(dev_stage, client, seller, value):
    name = f"/seller-crm/dev/jwt-secret-{uuid.uuid4().hex[:6]}"
    aws_client("ssm").put_parameter(Name=name, Value=value, Type="SecureString")
    _use(dev_stage, CRM_JWT_SECRET_PARAMETER=name)
    for _ in range(2):
        status, body = _get(client, value, seller)
        assert status == 500 and body["error"]["code"] == "internal"
    with pytest.raises(secrets.SecretRefused, match=f"stage 'dev' refuses to serve: SSM parameter {name}"):
        secrets.jwt_secret()
