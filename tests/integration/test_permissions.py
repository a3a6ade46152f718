"""Sub-accounts (API.md "Conventions"): a token's ``permissions`` without "customers" gets 403
on every /v1 route; absent or null, the role alone decides; not a list of strings -> 401."""

from __future__ import annotations

import json
import re

import pytest


def _call(client, method: str, path: str, content_type: str = "application/json", **claims):
    from chalicelib.api.auth import mint_token

    role = claims.pop("role", "owner")
    token = mint_token(claims.pop("seller_id", "s-perm"), role, sub="sub-account", **claims)
    response = getattr(client.http, method.lower())(
        path, headers={"Authorization": f"Bearer {token}", "Content-Type": content_type},
        body=json.dumps({}))
    return response.status_code, json.loads(response.body) if response.body else None


def _v1_routes():
    import app  # noqa: F401  (registers every route)
    from chalicelib.api.routing import ROUTES

    return [(r.method, re.sub(r"{\w+}", "x-1", r.path), r.content_types[0]) for r in ROUTES
            if r.path.startswith("/v1") and r.role is not None]


@pytest.mark.parametrize("permissions", [[], ["orders"], ["marketing", "Customers"]])
def test_a_sub_account_without_the_customers_permission_gets_403_on_every_v1_route(
        client, permissions):
    routes = _v1_routes()
    assert len(routes) > 40
    for method, path, content_type in routes:
        status, body = _call(client, method, path, content_type, permissions=permissions)
        assert (status, body["error"]["code"]) == (403, "forbidden"), (method, path)


@pytest.mark.parametrize("permissions, role, status", [
    (None, "viewer", 200),                      # absent/null: the role decides
    (["customers"], "viewer", 200),
    (["customers", "orders"], "owner", 200),
    ([], "owner", 403),                         # the owner's role does not lift it
    (["orders"], "owner", 403),
])
def test_permissions_present_with_customers_leave_the_role_in_charge(client, permissions,
                                                                      role, status):
    claims = {} if permissions is None else {"permissions": permissions}
    assert _call(client, "GET", "/v1/settings", role=role, **claims)[0] == status


def test_a_null_permissions_claim_is_the_same_as_none(client):
    assert _call(client, "GET", "/v1/settings", permissions=None)[0] == 200
    # the role still applies: a viewer may not PUT settings
    assert _call(client, "PUT", "/v1/settings", role="viewer", permissions=None)[0] == 403
    assert _call(client, "PUT", "/v1/settings", role="viewer",
                 permissions=["customers"])[0] == 403


@pytest.mark.parametrize("value", ["customers", {"customers": True}, [1], ["customers", None],
                                   True, 7, [["customers"]]])
def test_permissions_that_are_not_a_list_of_strings_are_401(client, value):
    status, body = _call(client, "GET", "/v1/settings", permissions=value)
    assert (status, body["error"]["code"]) == (401, "unauthorized")


def test_health_and_openapi_need_no_permission(client):
    assert client.http.get("/health").status_code == 200
    assert client.http.get("/openapi.json").status_code == 200
