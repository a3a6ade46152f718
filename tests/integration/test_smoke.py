def test_health_needs_no_token(api):
    r = api.client.http.get("/health")
    assert r.status_code == 200


def test_put_then_get_customer(api):
    r = api.put("/v1/customers/c1", {"name": "Malee", "phone": "+66812345678"})
    assert r.status_code == 201
    assert api.get("/v1/customers/c1").json["name"] == "Malee"
