"""Voucher codes issued through the real pipeline are keyed by the server's voucher secret:
a customer who knows the plan, voucher and customer ids (all public) cannot compute another
recipient's private code, nor a shop code from a voucher id."""

from __future__ import annotations

import base64
import hashlib

from tests.integration.delivery_support import create_plan, run_pipeline, seed_followers


def test_a_sent_private_code_is_the_hmac_under_the_server_secret_not_a_hash_of_ids(api, app):
    from chalicelib.domain import delivery as rules
    from chalicelib.settings import LOCAL_VOUCHER_SECRET
    from chalicelib.store import secrets

    ids = seed_followers(api, 2)
    voucher_id = api.post("/v1/vouchers", {"name": "10% off", "kind": "private", "discount": {
        "type": "percent", "value": "10"}}).json["voucher_id"]
    plan = create_plan(api, voucher={"mode": "chosen", "voucher_id": voucher_id})
    run_pipeline(app)
    assert secrets.voucher_key() == LOCAL_VOUCHER_SECRET.encode()   # the offline stages' key
    for cid in ids:
        code = api.get(f"/v1/customers/{cid}/inbox").json["items"][0]["voucher"]["code"]
        key = rules.delivery_key(plan["plan_id"], cid, "chat")
        public = hashlib.sha256(f"{voucher_id}|{key}".encode()).digest()
        assert code != "PV" + base64.b32encode(public[:10]).decode().rstrip("=")
        assert code == rules.voucher_code(key, voucher_id, secret=LOCAL_VOUCHER_SECRET.encode())


def test_a_regular_vouchers_shop_code_is_not_a_hash_of_its_id(api):
    r = api.post("/v1/vouchers", {"name": "Fifty off", "kind": "regular",
                                  "discount": {"type": "amount", "value": "50"}})
    assert r.status_code == 201, r.json
    voucher_id, code = r.json["voucher_id"], r.json["code"]
    assert code != "V" + hashlib.sha256(voucher_id.encode()).hexdigest()[:9].upper()
    assert code.startswith("V") and len(code) == 10
