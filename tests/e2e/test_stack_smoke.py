def test_stack_serves_health_and_demo(stack, demo):
    import requests

    assert requests.get(stack["base"] + "/health", timeout=10).json() == {"status": "ok"}
    r = demo.call("GET", "/v1/customers?limit=5")
    assert r.status_code == 200 and len(r.json()["items"]) == 5
