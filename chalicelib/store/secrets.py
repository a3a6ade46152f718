"""Secrets the service signs with; an SSM parameter is read once per process (once per
Lambda cold start).

On AWS the JWT secret is an SSM Parameter Store SecureString whose name the template passes
in (``CRM_JWT_SECRET_PARAMETER``); the offline stages take ``CRM_JWT_SECRET`` or the local
default from settings.
"""

from __future__ import annotations

import hashlib
import hmac
import threading

from chalicelib.settings import jwt_secret_problems, settings
from chalicelib.store.aws import client

# parameter name -> its value, or why this stage refuses it (a misconfigured deployment
# asks SSM once, not on every request)
_parameters: dict[str, tuple[bool, str]] = {}
_lock = threading.Lock()


class SecretRefused(RuntimeError):
    """The configured secret may not be used on this stage: the service refuses to serve."""


def jwt_secret() -> str:
    """The HS256 key tokens are checked (and, locally, minted) with."""
    cfg = settings()
    if not cfg.jwt_secret_parameter:
        # Settings already refused a missing or default CRM_JWT_SECRET outside offline stages.
        return cfg.jwt_secret or ""
    name = cfg.jwt_secret_parameter
    found = _parameters.get(name)
    if found is None:
        with _lock:
            found = _parameters.get(name)
            if found is None:
                found = _parameters[name] = _read_jwt_secret(name)
    usable, text = found
    if not usable:
        raise SecretRefused(text)
    return text


def voucher_key() -> bytes:
    """The key voucher codes are an HMAC under: ``CRM_VOUCHER_SECRET`` when set (the offline
    stages default it), else derived from the JWT secret with a purpose label, so a
    deployment needs one SecureString and the two keys never coincide."""
    cfg = settings()
    if cfg.voucher_secret:
        return cfg.voucher_secret.encode()
    return hmac.new(jwt_secret().encode(), b"seller-crm voucher codes v1", hashlib.sha256).digest()


def _read_jwt_secret(name: str) -> tuple[bool, str]:
    cfg = settings()
    value = client("ssm").get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"]
    problems = [] if cfg.offline else jwt_secret_problems(value, f"SSM parameter {name}")
    if problems:
        return False, f"stage '{cfg.stage}' refuses to serve: " + "; ".join(problems)
    return True, value


def forget() -> None:
    """Drop what was read, as a new cold start would."""
    with _lock:
        _parameters.clear()
