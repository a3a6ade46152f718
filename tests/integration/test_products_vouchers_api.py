"""Products (PUT /v1/products/{id}) and vouchers (POST/GET /v1/vouchers)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

PRODUCT = {"name": "Jasmine rice 5 kg", "price": "189.00", "currency": "THB",
           "image_url": "https://img.example/rice.jpg", "stock": 40}


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def test_product_put_creates_then_replaces(api):
    created = api.put("/v1/products/p-rice", PRODUCT)
    assert created.status_code == 201
    assert created.json["product_id"] == "p-rice" and created.json["price"] == "189.00"
    replaced = api.put("/v1/products/p-rice", {"name": "Rice", "price": 150, "currency": "THB"})
    assert replaced.status_code == 200
    got = api.get("/v1/products/p-rice").json
    assert got["name"] == "Rice" and got["price"] == "150" and got["stock"] is None
    assert got["version"] == 2


@pytest.mark.parametrize("body, path", [
    ({**PRODUCT, "price": "-1"}, "price"),
    ({**PRODUCT, "price": "1.001"}, "price"),
    ({**PRODUCT, "currency": "baht"}, "currency"),
    ({**PRODUCT, "stock": -3}, "stock"),
    ({**PRODUCT, "stock": 10**40}, "stock"),
    ({**PRODUCT, "image_url": "not a url"}, "image_url"),
    ({"price": "1", "currency": "THB"}, "name"),
])
def test_product_refuses_bad_fields(api, body, path):
    r = api.put("/v1/products/p1", body)
    assert r.status_code == 400
    assert path in [d["path"] for d in r.json["error"]["details"]]


def test_product_id_must_be_url_safe(api):
    r = api.put("/v1/products/" + "x" * 129, PRODUCT)
    assert r.status_code == 400 and r.json["error"]["details"][0]["path"] == "product_id"


def test_products_list_pages_and_other_seller_sees_404(api):
    for i in range(5):
        api.put(f"/v1/products/p{i}", PRODUCT)
    first = api.get("/v1/products?limit=3").json
    second = api.get(f"/v1/products?limit=3&cursor={first['next_cursor']}").json
    ids = [p["product_id"] for p in first["items"] + second["items"]]
    assert ids == [f"p{i}" for i in range(5)] and second["next_cursor"] is None
    assert api.as_seller("someone-else").get("/v1/products/p0").status_code == 404


def test_product_put_needs_operator(api):
    assert api.as_role("viewer").put("/v1/products/p1", {}).status_code == 403


def test_voucher_regular_is_created_with_a_shop_code(api):
    r = api.post("/v1/vouchers", {"name": "10% off", "kind": "regular",
                                  "discount": {"type": "percent", "value": 10},
                                  "min_spend": "100", "quantity": 50,
                                  "valid_until": _iso(timedelta(days=30))})
    assert r.status_code == 201
    body = r.json
    assert body["voucher_id"].startswith("vch_") and body["code"].startswith("V")
    assert body["discount"] == {"type": "percent", "value": "10"}
    assert body["quantity"] == 50 and body["claimed"] == 0 and body["min_spend"] == "100"
    assert api.get(f"/v1/vouchers/{body['voucher_id']}").json == body


def test_voucher_private_has_no_shop_code(api):
    r = api.post("/v1/vouchers", {"name": "VIP", "kind": "private",
                                  "discount": {"type": "amount", "value": "20.00"},
                                  "currency": "THB"})
    assert r.status_code == 201 and r.json["code"] is None


def test_voucher_targeted_needs_an_existing_segment(api):
    base = {"name": "Loyal gift", "kind": "targeted", "discount": {"type": "amount", "value": 5}}
    assert api.post("/v1/vouchers", {**base, "segment_id": "loyal"}).status_code == 201
    missing = api.post("/v1/vouchers", {**base, "segment_id": "nope"})
    assert missing.status_code == 400
    assert missing.json["error"]["details"][0]["path"] == "segment_id"
    assert api.post("/v1/vouchers", base).status_code == 400


@pytest.mark.parametrize("change, path", [
    ({"discount": {"type": "percent", "value": 0}}, "discount.value"),
    ({"discount": {"type": "percent", "value": 101}}, "discount"),
    ({"discount": {"type": "amount", "value": -5}}, "discount.value"),
    ({"discount": {"type": "coins", "value": 5}}, "discount.type"),
    ({"kind": "secret"}, "kind"),
    ({"name": ""}, "name"),
    ({"quantity": 0}, "quantity"),
    ({"min_spend": "-1"}, "min_spend"),
    ({"segment_id": "loyal"}, ""),
    ({"valid_from": _iso(timedelta(days=3)), "valid_until": _iso(timedelta(days=2))}, ""),
    ({"valid_until": "2026-01-01T00:00:00"}, ""),
    ({"valid_until": _iso(timedelta(days=-1))}, "valid_until"),
    ({"valid_until": "9999-12-31T23:59:59-12:00"}, "valid_until"),
    ({"discount": {"type": "amount", "value": 50}, "min_spend": "20"}, ""),
])
def test_voucher_refuses_what_cannot_work(api, change, path):
    body = {"name": "Deal", "kind": "regular", "discount": {"type": "percent", "value": 10},
            **change}
    r = api.post("/v1/vouchers", body)
    assert r.status_code == 400, r.json
    assert path in [d["path"] for d in r.json["error"]["details"]]


def test_vouchers_list_newest_first_across_pages(api):
    made = [api.post("/v1/vouchers", {"name": f"v{i}", "kind": "regular",
                                      "discount": {"type": "percent", "value": 5}}).json["voucher_id"]
            for i in range(4)]
    first = api.get("/v1/vouchers?limit=3").json
    second = api.get(f"/v1/vouchers?limit=3&cursor={first['next_cursor']}").json
    listed = [v["voucher_id"] for v in first["items"] + second["items"]]
    assert listed == list(reversed(made)) and second["next_cursor"] is None
    assert api.as_seller("x-" + api.seller_id).get("/v1/vouchers").json["items"] == []
    assert api.as_seller("x-" + api.seller_id).get(f"/v1/vouchers/{made[0]}").status_code == 404


def test_demo_shop_items_load_once_and_changes_nothing_the_second_time(api):
    from chalicelib.local import demo_shop_items

    first = demo_shop_items.load(api.seller_id, datetime.now(UTC))
    assert first == {"products_created": 20, "vouchers_created": 1, "settings_written": 1}
    before = api.get("/v1/products?limit=50").json["items"]
    again = demo_shop_items.load(api.seller_id, datetime.now(UTC) + timedelta(hours=1))
    assert again == {"products_created": 0, "vouchers_created": 0, "settings_written": 0}
    assert api.get("/v1/products?limit=50").json["items"] == before
    assert [p["product_id"] for p in before] == [f"demo-p{i:02d}" for i in range(1, 21)]
    settings = api.get("/v1/settings").json
    assert (settings["shop_name"], settings["timezone"], settings["default_locale"]) == \
        ("Demo Shop", "Asia/Bangkok", "th")
    assert api.get(f"/v1/vouchers/{demo_shop_items.VOUCHER_ID}").json["code"] == "DEMO10"


def test_voucher_claims_count_once_per_customer_and_use_up_the_quantity(api, app):
    import json

    from chalicelib.services import reactions
    from tests.integration.conftest import drain

    voucher = api.post("/v1/vouchers", {"name": "Two only", "kind": "regular", "quantity": 2,
                                        "discount": {"type": "percent", "value": 5}}).json
    now = datetime.now(UTC)

    def claim(event_id: str, customer_id: str) -> dict:
        return {"event_id": event_id, "type": "voucher_claimed", "customer_id": customer_id,
                "occurred_at": (now - timedelta(minutes=5)).isoformat(),
                "voucher_id": voucher["voucher_id"]}

    events = [claim("e1", "c1"), claim("e2", "c1"), claim("e3", "c2")]
    assert api.post("/v1/events", {"events": events}).status_code == 202
    drain(app, "events")
    # the same message delivered again (SQS at-least-once) counts nothing more
    reactions.handle_message(json.dumps({"seller_id": api.seller_id, "events": events}), now)
    assert api.get(f"/v1/vouchers/{voucher['voucher_id']}").json["claimed"] == 2

    api.put("/v1/products/p1", {"name": "Rice", "price": "10.00", "currency": "THB"})
    r = api.post("/v1/plans", {"name": "Use it", "audience": {"segment_ids": ["loyal"]},
                               "content": {"text": {"en": "Hi"}}, "product_ids": ["p1"],
                               "voucher": {"mode": "chosen", "voucher_id": voucher["voucher_id"]},
                               "action": "send"})
    assert r.status_code == 400 and "used up" in r.json["error"]["details"][0]["message"]


def test_claims_of_an_unknown_voucher_are_ignored(api):
    from chalicelib.store import vouchers as voucher_store

    assert voucher_store.record_claim(api.seller_id, "vch_nope", "c1", 0) is False
