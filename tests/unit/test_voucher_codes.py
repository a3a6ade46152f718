"""Voucher codes are an HMAC under a server secret, not a hash of public ids: the same key
and secret give the same code, another secret another code, and knowing the ids (as the
old sha256 derivation allowed) does not give the code away."""

from __future__ import annotations

import base64
import hashlib

import pytest

from chalicelib.domain import delivery as rules
from chalicelib.domain import vouchers
from chalicelib.settings import LOCAL_VOUCHER_SECRET, Settings

KEY = rules.delivery_key("pl_1", "c1", "chat")


def public_hash_code(key: str, voucher_id: str) -> str:
    """How private codes were derived before: anyone who knew the ids could compute it."""
    digest = hashlib.sha256(f"{voucher_id}|{key}".encode()).digest()
    return "PV" + base64.b32encode(digest[:10]).decode().rstrip("=")


def test_private_code_is_deterministic_for_the_same_key_and_secret():
    assert (rules.voucher_code(KEY, "vch_1", secret=b"server-secret")
            == rules.voucher_code(KEY, "vch_1", secret=b"server-secret"))


def test_private_code_differs_under_another_secret():
    assert (rules.voucher_code(KEY, "vch_1", secret=b"server-secret")
            != rules.voucher_code(KEY, "vch_1", secret=b"other-secret"))


@pytest.mark.parametrize("secret", [b"server-secret", b"", LOCAL_VOUCHER_SECRET.encode()])
def test_private_code_is_not_the_public_hash_of_the_ids(secret):
    code = rules.voucher_code(KEY, "vch_1", secret=secret)
    assert code != public_hash_code(KEY, "vch_1")
    assert code.startswith("PV") and len(code) == len(public_hash_code(KEY, "vch_1"))


def test_shop_code_is_keyed_too():
    old = "V" + hashlib.sha256(b"vch_1").hexdigest()[:9].upper()
    code = vouchers.shop_code("vch_1", secret=b"server-secret")
    assert code == vouchers.shop_code("vch_1", secret=b"server-secret") != old
    assert code != vouchers.shop_code("vch_1", secret=b"other-secret")
    assert code.startswith("V") and len(code) == len(old)


DEPLOYED = dict(jwt_secret="j" * 40, chat_channel="http", messaging_endpoint="https://m.example",
                dispatch_queue_arn="arn:queue", scheduler_role_arn="arn:role",
                snapshot_bucket="bucket", export_bucket="exports")


@pytest.mark.parametrize("stage, secret, refused", [
    ("local", None, False),
    ("test", None, False),
    ("dev", None, False),          # derived from the JWT secret
    ("dev", "v" * 32, False),
    ("prod", "short", True),
    ("prod", LOCAL_VOUCHER_SECRET, True),
])
def test_voucher_secret_has_a_default_only_offline_and_is_never_the_local_one(stage, secret,
                                                                              refused):
    extra = {} if stage in ("local", "test") else DEPLOYED
    if refused:
        with pytest.raises(ValueError, match="CRM_VOUCHER_SECRET"):
            Settings(stage=stage, voucher_secret=secret, **extra)
        return
    cfg = Settings(stage=stage, voucher_secret=secret, **extra)
    if stage in ("local", "test") and secret is None:
        assert cfg.voucher_secret == LOCAL_VOUCHER_SECRET


def test_a_deployment_without_a_voucher_secret_derives_one_from_the_jwt_secret(monkeypatch):
    from chalicelib.store import secrets

    for jwt in ("j" * 40, "k" * 40):
        monkeypatch.setattr(secrets, "settings", lambda jwt=jwt: Settings(
            stage="dev", **{**DEPLOYED, "jwt_secret": jwt}))
        key = secrets.voucher_key()
        assert key not in (jwt.encode(), LOCAL_VOUCHER_SECRET.encode()) and len(key) == 32
        assert key == secrets.voucher_key()
    monkeypatch.setattr(secrets, "settings", lambda: Settings(stage="dev", **DEPLOYED))
    first = secrets.voucher_key()
    monkeypatch.setattr(secrets, "settings", lambda: Settings(
        stage="dev", **{**DEPLOYED, "jwt_secret": "k" * 40}))
    assert secrets.voucher_key() != first
