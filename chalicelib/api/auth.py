"""JWT bearer auth (HS256), the role ladder viewer < operator < admin < owner, and a
sub-account's ``permissions`` (API.md "Sub-accounts": without "customers", nothing)."""

from __future__ import annotations

import time
from dataclasses import dataclass

from chalicelib.domain.errors import Forbidden, NotFound, Unauthorized
from chalicelib.domain.ids import is_id
from chalicelib.settings import settings
from chalicelib.store.secrets import jwt_secret

ROLES = ("viewer", "operator", "admin", "owner")
RANK = {role: i for i, role in enumerate(ROLES)}
# The permission a sub-account needs for any /v1 route (SPEC.md §6: a sub-account without
# the customers permission gets nothing).
AREA_PERMISSION = "customers"
MAX_PERMISSIONS = 100
# The local stack's demo shop (chalicelib/local/demo.py) and the one stage that hands out a
# token for it without auth (API.md "Seller console": GET /v1/local/demo-token).
DEMO_SELLER = "demo"
DEMO_TOKEN_STAGE = "local"


@dataclass(frozen=True)
class Principal:
    user_id: str
    seller_id: str
    role: str
    # None: no permissions claim (or null), the role alone decides; else the sub-account's list.
    permissions: frozenset[str] | None = None


def authenticate(authorization: str | None) -> Principal:
    if not authorization or not authorization.lower().startswith("bearer "):
        raise Unauthorized("missing bearer token")
    import jwt  # on first use: ~40 ms off app.py's cold import (docs/architecture.md)

    token = authorization[7:].strip()
    try:
        claims = jwt.decode(token, jwt_secret(), algorithms=["HS256"],
                            options={"require": ["exp", "sub", "seller_id", "role"]})
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("token expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid token: {exc}") from exc
    role, seller = claims.get("role"), claims.get("seller_id")
    if not isinstance(role, str) or role not in RANK or not is_id(seller):
        # seller_id goes into every key: one outside the id alphabet (a '#') could reach
        # another seller's items, so such a token is refused outright.
        raise Unauthorized("token has no valid role or seller_id")
    return Principal(user_id=str(claims["sub"]), seller_id=seller, role=role,
                     permissions=permissions_of(claims))


def permissions_of(claims: dict) -> frozenset[str] | None:
    """The token's ``permissions``: absent or null -> None (the role decides); a list of
    strings -> that set; anything else is a malformed token (401)."""
    value = claims.get("permissions")
    if value is None:
        return None
    if (not isinstance(value, list) or len(value) > MAX_PERMISSIONS
            or not all(isinstance(v, str) for v in value)):
        raise Unauthorized("token's permissions must be a list of strings")
    return frozenset(value)


def require(principal: Principal, role: str) -> None:
    """Permission first (a sub-account without "customers" may call nothing), then the role."""
    if principal.permissions is not None and AREA_PERMISSION not in principal.permissions:
        raise Forbidden(f"this sub-account lacks the '{AREA_PERMISSION}' permission")
    if RANK[principal.role] < RANK[role]:
        raise Forbidden(f"role '{principal.role}' may not do this; needs '{role}' or higher")


def mint_token(seller_id: str, role: str = "owner", sub: str = "dev", ttl_seconds: int = 86400 * 30,
               now: float | None = None, **claims: object) -> str:
    """A token for local use and tests (the marketplace issues real ones); ``claims`` adds
    or overrides claims (``permissions=[...]``)."""
    import jwt  # on first use, like authenticate's

    issued = int(now if now is not None else time.time())
    payload = {"sub": sub, "seller_id": seller_id, "role": role, "iat": issued,
               "exp": issued + ttl_seconds, **claims}
    return jwt.encode(payload, jwt_secret(), algorithm="HS256")


def demo_token() -> str:
    """A token for the demo shop (seller ``demo``, role owner, 30 days) on the local stage;
    on every other stage the route does not exist: the same 404 as a path no route matches."""
    if settings().stage != DEMO_TOKEN_STAGE:
        raise NotFound("no such route")
    return mint_demo_token()


def mint_demo_token() -> str:
    """The demo shop's owner token (also the one the local stack's banner prints, whatever
    offline stage it runs as)."""
    return mint_token(DEMO_SELLER, "owner", sub="demo-owner")
