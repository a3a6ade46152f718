"""Bad input never 500s (docs/input-limits.md): nesting, methods no route takes, ids in
paths, tokens and keys, percent-encoded path ids — in-process, through the Chalice test
client and through the local stack's own gateway (chalicelib/local/gateway.py)."""

from __future__ import annotations

import base64
import json
import re
import time

import jwt
import pytest

from chalicelib.api.routing import MAX_JSON_DEPTH, ROUTES

BAD_IDS = [
    ("x" * 129, "too long"),
    ("a%23b", "a percent sign (an id arrives decoded)"),
    ("a b", "a space"),
    ("ลูกค้า", "letters outside A-Z"),
    ("a,b", "a comma"),
]


def nested(depth: int) -> str:
    """A JSON value nested ``depth`` levels: [[[...]]]."""
    return "[" * depth + "]" * depth


def _token(seller_id):
    claims = {"sub": "u1", "seller_id": seller_id, "role": "owner", "exp": int(time.time()) + 60}
    return jwt.encode(claims, "local-dev-secret", algorithm="HS256")


def _gateway(app):
    from chalice.config import Config

    from chalicelib.local.gateway import ContractGateway

    return ContractGateway(app, Config.create())


def _via_gateway(app, api, method, path, body=None):
    """One request through the local stack's gateway (what `make run` serves), in-process."""
    raw = json.dumps(body).encode() if body is not None else None
    response = _gateway(app).handle_request(method, path, api.headers(), raw)
    return response["statusCode"], json.loads(response["body"]) if response["body"] else None


# ----- nesting ----------------------------------------------------------------------------

@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 1_000, 10_000, 100_000])
def test_a_body_nested_deeper_than_the_limit_is_400(api, depth):
    for method, path in [("POST", "/v1/events"), ("PUT", "/v1/customers/c1"),
                         ("POST", "/v1/segments/preview"), ("POST", "/v1/plans")]:
        r = api.call(method, path, raw='{"x": ' + nested(depth - 1) + "}")
        assert r.status_code == 400, (path, r.body[:200])
        assert r.json["error"]["code"] == "validation_error"
        assert f"nested deeper than {MAX_JSON_DEPTH}" in r.json["error"]["message"]


def test_a_body_nested_up_to_the_limit_is_read(api):
    # an unknown field is ignored, however deep it is, as long as the body is within the limit
    raw = '{"name": "x", "extra": ' + nested(MAX_JSON_DEPTH - 1) + "}"
    assert api.call("PUT", "/v1/customers/c1", raw=raw).status_code == 201


def test_a_cursor_nested_deep_is_400(api):
    cursor = base64.urlsafe_b64encode(nested(5_000).encode()).decode()
    for path in ["/v1/customers", "/v1/segments", "/v1/plans", "/v1/products"]:
        r = api.get(f"{path}?cursor={cursor}")
        assert r.status_code == 400, (path, r.body[:200])
        assert r.json["error"]["details"][0]["path"] == "cursor"


# ----- methods no route takes -------------------------------------------------------------

@pytest.mark.parametrize("method", ["TRACE", "CONNECT", "PROPFIND"])
def test_a_method_no_route_takes_is_405_in_the_contract_naming_the_allowed_ones(api, method):
    r = api.client.http.request(method, "/v1/customers/c1", headers=api.headers())
    assert r.status_code == 405
    assert json.loads(r.body)["error"]["code"] == "method_not_allowed"
    assert set(r.headers["Allow"].replace(" ", "").split(",")) == {"GET", "PUT"}


# ----- ids in paths -----------------------------------------------------------------------

def _id_routes():
    seen = set()
    for route in ROUTES:
        names = re.findall(r"{(\w+)}", route.path)
        if names and (route.path, route.method) not in seen:
            seen.add((route.path, route.method))
            yield route.method, route.path, names, route.content_types[0]


@pytest.mark.parametrize("bad, why", BAD_IDS)
def test_a_path_id_outside_the_id_alphabet_is_400_naming_it_on_every_route(api, bad, why):
    for method, path, names, media in _id_routes():
        for name in names:
            concrete = path
            for other in names:
                concrete = concrete.replace("{" + other + "}", bad if other == name else "ok-1")
            writes = method in ("POST", "PUT", "PATCH")
            r = api.call(method, concrete, {} if writes else None,   # in the type the route takes
                         headers={"Content-Type": media} if writes else None)
            assert r.status_code == 400, (why, method, path, name, r.status_code)
            assert r.json["error"]["details"][0]["path"] == name, (method, path)


@pytest.mark.parametrize("path", ["/v1/customers/{id}", "/v1/segments/{id}", "/v1/tags/{id}",
                                  "/v1/imports/{id}", "/v1/tag-rules/{id}", "/v1/plans/{id}",
                                  "/v1/products/{id}", "/v1/vouchers/{id}"])
def test_an_unknown_id_of_the_whole_alphabet_is_404(api, path):
    r = api.get(path.format(id="Az09._:-+@" + "x" * 118))
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"


# ----- ids in tokens and keys -------------------------------------------------------------

@pytest.mark.parametrize("seller_id", ["a#b", "", "x" * 129, "a b", "ลูกค้า", "a/b", 7, ["s1"]])
def test_a_token_seller_id_outside_the_id_alphabet_is_401(client, seller_id):
    r = client.http.get("/v1/customers", headers={"Authorization": f"Bearer {_token(seller_id)}"})
    assert r.status_code == 401
    assert json.loads(r.body)["error"]["code"] == "unauthorized"


def test_a_token_role_that_is_not_a_string_is_401_not_500(client):
    claims = {"sub": "u1", "seller_id": "s1", "role": ["owner"], "exp": int(time.time()) + 60}
    token = jwt.encode(claims, "local-dev-secret", algorithm="HS256")
    assert client.http.get("/v1/customers",
                           headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_no_two_seller_and_id_pairs_can_compose_the_same_key(app, api):
    """Keys are ``seller#id`` (customer shards, inbox, deliveries, events_seen...): seller
    "a" with id "b#c" and seller "a#b" with id "c" would share "a#b#c". Neither half of
    such a pair gets in: the token's seller, a path id (decoded as API Gateway decodes it)
    and an event's ids all keep to the id alphabet, which has no '#'."""
    a, a_b = api.as_seller("a"), api.as_seller("a#b")
    status, body = _via_gateway(app, a, "PUT", "/v1/customers/b%23c", {"name": "x"})
    assert status == 400 and body["error"]["details"][0]["path"] == "customer_id"
    status, body = _via_gateway(app, a, "GET", "/v1/customers/b%23c/inbox")
    assert status == 400
    assert a_b.put("/v1/customers/c", {"name": "x"}).status_code == 401
    r = a.post("/v1/events", {"events": [{"event_id": "e#1", "type": "followed",
                                          "customer_id": "b#c",
                                          "occurred_at": "2026-11-20T00:00:00Z"}]})
    assert r.status_code == 202 and r.json["accepted"] == 0
    assert [x["index"] for x in r.json["rejected"]] == [0]
    assert "customer_id" in r.json["rejected"][0]["error"] and "event_id" in r.json["rejected"][0]["error"]


@pytest.mark.parametrize("body, field", [
    ({"customer_id": "a#b"}, "customer_id"),
])
def test_an_id_in_a_body_outside_the_id_alphabet_is_400_naming_it(api, body, field):
    plan = api.post("/v1/plans", {"name": "Hi", "audience": {"segment_ids": ["loyal"]},
                                  "content": {"text": {"en": "Hi"}}}).json
    r = api.post(f"/v1/plans/{plan['plan_id']}/test-send", body)
    assert r.status_code == 400 and r.json["error"]["details"][0]["path"] == field


@pytest.mark.parametrize("body, path", [
    ({"name": "x", "audience": {"segment_ids": ["seg#1"]}, "content": {"text": {"en": "Hi"}}},
     "audience.segment_ids[0]"),
    ({"name": "x", "audience": {"segment_ids": ["loyal"], "exclude_segment_ids": ["a b"]},
      "content": {"text": {"en": "Hi"}}}, "audience.exclude_segment_ids[0]"),
    ({"name": "x", "audience": {"segment_ids": ["loyal"]}, "content": {"text": {"en": "Hi"}},
      "product_ids": ["p#1"]}, "product_ids[0]"),
    ({"name": "x", "audience": {"segment_ids": ["loyal"]}, "content": {"text": {"en": "Hi"}},
      "voucher": {"mode": "chosen", "voucher_id": "v#1"}}, "voucher.voucher_id"),
])
def test_ids_in_a_plan_body_keep_to_the_id_alphabet(api, body, path):
    r = api.post("/v1/plans", body)
    assert r.status_code == 400
    assert path in [d["path"] for d in r.json["error"]["details"]]


@pytest.mark.parametrize("rule, path", [
    ({"segment": "seg#1"}, "rule.segment"),
    ({"all": [{"attr": "age", "op": "gte", "value": 1},
              {"event": "message_read", "within_days": 7, "plan_id": "p 1"}]}, "rule.all[1].plan_id"),
    ({"tag_ids": {"any": ["t#1"]}}, "rule.tag_ids.any[0]"),
])
def test_ids_in_a_rule_keep_to_the_id_alphabet(api, rule, path):
    r = api.post("/v1/segments/preview", {"rule": rule})
    assert r.status_code == 400
    assert r.json["error"]["details"][0]["path"] == path


def test_a_customer_list_segment_filter_outside_the_id_alphabet_is_400(api):
    r = api.get("/v1/customers?segment_id=a%23b")
    assert r.status_code == 400 and r.json["error"]["details"][0]["path"] == "segment_id"


# ----- percent-encoded path ids -----------------------------------------------------------

def test_the_local_gateway_decodes_path_ids_like_api_gateway(app, api):
    status, body = _via_gateway(app, api, "PUT", "/v1/customers/phone%3A%2B66812345678",
                                {"name": "Malee"})
    assert status == 201 and body["customer_id"] == "phone:+66812345678"
    for path in ["/v1/customers/phone%3A%2B66812345678", "/v1/customers/phone:+66812345678"]:
        status, body = _via_gateway(app, api, "GET", path)
        assert status == 200 and (body["customer_id"], body["name"]) == ("phone:+66812345678", "Malee")
    # decoded once: an encoded percent sign stays a percent sign, which no id holds
    status, body = _via_gateway(app, api, "GET", "/v1/customers/phone%253A%252B66812345678")
    assert status == 400
