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


@pytest.mark.parametrize("stage, secret, key", [
    ("local", None, LOCAL_VOUCHER_SECRET.encode()),
    ("local", "mine", b"mine"),
    ("dev", "a-real-secret", b"a-real-secret"),
    ("prod", "a-real-secret", b"a-real-secret"),
    ("dev", None, ValueError),
    ("prod", "", ValueError),
    ("prod", LOCAL_VOUCHER_SECRET, ValueError),
])
def test_voucher_secret_has_a_default_only_on_the_local_stage(stage, secret, key):
    cfg = Settings(stage=stage, voucher_secret=secret)
    if key is ValueError:
        with pytest.raises(ValueError, match="CRM_VOUCHER_SECRET"):
            cfg.voucher_key()
    else:
        assert cfg.voucher_key() == key
