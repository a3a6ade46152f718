"""The error contract, JWT auth, roles, tenant isolation and the OpenAPI document."""

from __future__ import annotations

import time

import jwt
import pytest


def _token(**claims):
    base = {"sub": "u1", "seller_id": "s1", "role": "owner", "exp": int(time.time()) + 60}
    base.update(claims)
    base = {k: v for k, v in base.items() if v is not None}
    return jwt.encode(base, claims.pop("_key", "local-dev-secret"), algorithm="HS256")


def _get(client, path, token=None, headers=None):
    h = dict(headers or {})
    if token is not None:
        h["Authorization"] = f"Bearer {token}"
    return client.http.get(path, headers=h)


def test_health_and_openapi_need_no_token(client):
    assert _get(client, "/health").status_code == 200
    doc = __import__("json").loads(_get(client, "/openapi.json").body)
    assert doc["openapi"].startswith("3.")
    assert {"/v1/customers/{customer_id}", "/v1/customers", "/v1/events"} <= set(doc["paths"])


def test_openapi_describes_bodies_from_the_validating_models(client):
    doc = __import__("json").loads(_get(client, "/openapi.json").body)
    put = doc["paths"]["/v1/customers/{customer_id}"]["put"]
    ref = put["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    schema = doc["components"]["schemas"][ref.rsplit("/", 1)[1]]
    assert set(schema["properties"]) == {"name", "phone", "age", "gender", "region", "language"}
    assert "Event" in doc["components"]["schemas"]


@pytest.mark.parametrize("token, why", [
    (None, "no token"),
    ("not-a-jwt", "garbage"),
    (_token(exp=int(time.time()) - 10), "expired"),
    (jwt.encode({"sub": "u", "seller_id": "s1", "role": "owner", "exp": int(time.time()) + 60},
                "another-secret", algorithm="HS256"), "wrong signature"),
    (_token(role="superuser"), "unknown role"),
    (_token(seller_id=None), "no seller"),
    (_token(exp=None), "no exp"),
])
def test_a_missing_or_bad_token_is_401(client, token, why):
    r = _get(client, "/v1/customers", token)
    assert r.status_code == 401, why
    assert __import__("json").loads(r.body)["error"]["code"] == "unauthorized"


@pytest.mark.parametrize("role, method, path, allowed", [
    ("viewer", "GET", "/v1/customers", True),
    ("viewer", "PUT", "/v1/customers/c1", False),
    ("viewer", "POST", "/v1/events", False),
    ("operator", "PUT", "/v1/customers/c1", True),
    ("operator", "POST", "/v1/events", True),
    ("admin", "PUT", "/v1/customers/c1", True),
])
def test_roles_are_enforced_per_route(api, role, method, path, allowed):
    body = {"events": [{"event_id": "e", "type": "followed", "customer_id": "c1",
                        "occurred_at": "2026-11-20T00:00:00Z"}]} if path == "/v1/events" else {"name": "x"}
    r = api.as_role(role).call(method, path, body)
    if allowed:
        assert r.status_code in (200, 201, 202)
    else:
        assert r.status_code == 403 and r.json["error"]["code"] == "forbidden"


def test_authorisation_comes_before_validation(api):
    r = api.as_role("viewer").put("/v1/customers/c1", {"age": "not a number"})
    assert r.status_code == 403


@pytest.mark.parametrize("raw, content_type", [
    ("{bad json", "application/json"),
    ("", "application/json"),
    ("[1, 2]", "application/json"),
    ('{"events": []}', "text/xml"),
    ("\xff\xfe", "application/json"),
])
def test_malformed_bodies_and_wrong_content_types_are_400(api, raw, content_type):
    r = api.call("POST", "/v1/events", raw=raw, headers={"Content-Type": content_type})
    assert r.status_code == 400, r.body
    assert r.json["error"]["code"] == "validation_error"
    assert "Traceback" not in r.body.decode("utf-8", "replace")


def test_errors_name_the_field_path(api):
    r = api.post("/v1/events", {"events": {"a": 1}})
    assert r.status_code == 400
    assert r.json["error"]["details"][0]["path"] == "events"


def test_another_sellers_customer_is_404(api):
    api.put("/v1/customers/c1", {"name": "mine"})
    other = api.as_seller(api.seller_id + "-other")
    assert other.get("/v1/customers/c1").status_code == 404
    assert other.get("/v1/customers").json["items"] == []
    # the other seller's PUT creates its own customer, leaving ours alone
    assert other.put("/v1/customers/c1", {"name": "theirs"}).status_code == 201
    assert api.get("/v1/customers/c1").json["name"] == "mine"


def test_the_seller_comes_from_the_token_not_the_body(api):
    r = api.put("/v1/customers/c1", {"name": "x", "seller_id": "victim"})
    assert r.status_code == 201
    assert api.as_seller("victim").get("/v1/customers/c1").status_code == 404


def test_a_get_body_can_be_sent_back_unchanged(api):
    """API.md lets both sides add fields: request bodies ignore fields they do not know, so
    the front end can PUT/PATCH what it read."""
    settings = api.get("/v1/settings").json
    assert api.put("/v1/settings", {**settings, "timezone": "Asia/Bangkok"}).status_code == 200
    customer = api.put("/v1/customers/c1", {"name": "x"}).json
    assert api.put("/v1/customers/c1", {**customer, "name": "y"}).status_code == 200
    seg = api.post("/v1/segments", {"name": "s", "rule": {"segment": "loyal"}}).json
    r = api.patch(f"/v1/segments/{seg['segment_id']}", {**seg, "name": "t"})
    assert r.status_code == 200 and r.json["name"] == "t"
    event = {"event_id": "e1", "type": "payment_started", "customer_id": "c1",
             "occurred_at": "2026-11-20T00:00:00Z", "order_id": "o1", "amount": "5.00",
             "currency": "THB"}
    assert api.post("/v1/events", {"events": [event]}).json["accepted"] == 1
