"""Customers API: create/update, read, list with cursors, versions."""

from __future__ import annotations

import pytest


@pytest.fixture
def api(audience_api):
    """Every test here runs over both audience sources (conftest ``audience_api``)."""
    return audience_api


def test_put_creates_with_201_then_updates_with_200(api):
    r = api.put("/v1/customers/c1", {"name": "Malee", "phone": "+66 81 234 5678", "age": 31,
                                     "gender": "female", "region": "Bangkok", "language": "th"})
    assert r.status_code == 201
    assert r.json["phone"] == "+66812345678" and r.json["customer_id"] == "c1"
    assert r.headers["ETag"] == str(r.json["version"])
    r = api.put("/v1/customers/c1", {"region": "Chiang Mai"})
    assert r.status_code == 200
    assert (r.json["region"], r.json["name"]) == ("Chiang Mai", "Malee")


def test_get_returns_the_contract_shape(api):
    api.put("/v1/customers/c1", {"name": "A"})
    body = api.get("/v1/customers/c1").json
    assert set(body) >= {"customer_id", "name", "phone", "age", "gender", "region", "language",
                         "is_follower", "followed_at", "blocked", "unsubscribed", "tags",
                         "segments", "stats"}
    assert body["stats"] == {"order_count": 0, "total_paid": "0.00", "first_order_at": None,
                             "last_order_at": None}


def test_a_national_phone_uses_the_shops_default_region(api):
    assert api.put("/v1/customers/c1", {"phone": "081-234-5678"}).status_code == 400
    api.put("/v1/settings", {"default_region": "TH"})
    assert api.put("/v1/customers/c1", {"phone": "081-234-5678"}).json["phone"] == "+66812345678"


def test_null_clears_a_field(api):
    api.put("/v1/customers/c1", {"name": "A", "age": 30})
    assert api.put("/v1/customers/c1", {"age": None}).json["age"] is None


@pytest.mark.parametrize("body, path", [
    ({"phone": "12"}, "phone"),
    ({"age": -1}, "age"),
    ({"age": 200}, "age"),
    ({"gender": "other"}, "gender"),
    ({"language": "not a tag"}, "language"),
    ({"name": ""}, "name"),
])
def test_bad_profile_fields_are_400_naming_the_field(api, body, path):
    r = api.put("/v1/customers/c1", body)
    assert r.status_code == 400
    assert r.json["error"]["code"] == "validation_error"
    assert path in [d["path"] for d in r.json["error"]["details"]]
    assert api.get("/v1/customers/c1").status_code == 404   # nothing half-applied


def test_stale_if_match_is_412_and_fresh_one_applies(api):
    v = api.put("/v1/customers/c1", {"name": "A"}).json["version"]
    assert api.put("/v1/customers/c1", {"name": "B"}, headers={"If-Match": str(v)}).status_code == 200
    r = api.put("/v1/customers/c1", {"name": "C"}, headers={"If-Match": str(v)})
    assert r.status_code == 412 and r.json["error"]["code"] == "precondition_failed"
    assert api.get("/v1/customers/c1").json["name"] == "B"


def test_unknown_customer_is_404(api):
    r = api.get("/v1/customers/nobody")
    assert r.status_code == 404 and r.json["error"]["code"] == "not_found"


def test_list_pages_through_every_customer_exactly_once(api):
    ids = {f"c{i:03d}" for i in range(37)}
    for cid in ids:
        api.put(f"/v1/customers/{cid}", {"name": cid})
    seen, cursor, pages = [], None, 0
    while True:
        r = api.get("/v1/customers?limit=5" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status_code == 200 and len(r.json["items"]) <= 5
        seen += [c["customer_id"] for c in r.json["items"]]
        cursor, pages = r.json["next_cursor"], pages + 1
        if cursor is None:
            break
    assert sorted(seen) == sorted(ids) and pages >= 8


def test_a_limit_over_200_is_capped(api):
    for i in range(3):
        api.put(f"/v1/customers/c{i}", {"name": "x"})
    assert len(api.get("/v1/customers?limit=5000").json["items"]) == 3


def test_empty_query_parameters_mean_absent(api):
    api.put("/v1/customers/c1", {"name": "x"})
    r = api.get("/v1/customers?segment_id=&tag=&limit=&cursor=")
    assert r.status_code == 200 and len(r.json["items"]) == 1


@pytest.mark.parametrize("query", ["limit=0", "limit=-3", "limit=abc", "cursor=%%%"])
def test_bad_list_parameters_are_400(api, query):
    r = api.get(f"/v1/customers?{query}")
    assert r.status_code == 400 and r.json["error"]["code"] == "validation_error"


def test_list_filters_by_built_in_segment(api):
    from datetime import UTC, datetime, timedelta

    at = (datetime.now(UTC) - timedelta(days=2)).isoformat()
    api.post("/v1/events", {"events": [
        {"event_id": "f1", "type": "followed", "customer_id": "fan", "occurred_at": at}]})
    api.put("/v1/customers/other", {"name": "x"})
    r = api.get("/v1/customers?segment_id=new_followers")
    assert [c["customer_id"] for c in r.json["items"]] == ["fan"]


def test_ids_that_cannot_exist_are_400_not_500(api):
    # API.md "Ids": an id outside 1-128 of the id alphabet is a 400 (it used to be a 404)
    long_id = "x" * 2000
    assert api.get(f"/v1/customers/{long_id}").status_code == 400
    r = api.put(f"/v1/customers/{long_id}", {"name": "x"})
    assert r.status_code == 400 and r.json["error"]["details"][0]["path"] == "customer_id"


# One scan serves the customer list and a segment's members (store.customers.matching_page),
# so one check refuses the same forged cursors on both: a shard that is a bool, a last id
# outside the id alphabet or longer than an id can be.
@pytest.mark.parametrize("path", ["/v1/customers?", "/v1/customers?tag=vip&",
                                  "/v1/segments/loyal/members?"])
@pytest.mark.parametrize("state", [{"s": True}, {"s": 0, "a": "c1#x"}, {"s": 0, "a": "y" * 129},
                                   {"s": 0, "a": ""}])
def test_a_customer_scan_cursor_is_checked_alike_on_every_list(api, path, state):
    from chalicelib.api.routing import encode_cursor

    api.put("/v1/customers/c1", {"name": "A"})
    r = api.get(f"{path}cursor={encode_cursor(state)}")
    assert r.status_code == 400 and r.json["error"]["details"][0]["path"] == "cursor"


@pytest.mark.parametrize("state", [{"s": "x"}, {"s": 99}, {"s": 0, "a": 5}, {"s": 0, "a": "y" * 500},
                                   {"s": -1}])
def test_tampered_cursors_are_400(api, state):
    from chalicelib.api.routing import encode_cursor

    r = api.get(f"/v1/customers?cursor={encode_cursor(state)}")
    assert r.status_code == 400 and r.json["error"]["code"] == "validation_error"
