"""Segments over HTTP on the real local stack: create, preview, members, explain, insights,
and the demo shop's built-ins."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

BUILTINS = ["potential_new", "recent", "repeat", "loyal", "lapsed", "new_followers",
            "active_followers"]


def at(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def test_create_preview_members_explain_over_http(http):
    for i in range(12):
        r = http.call("PUT", f"/v1/customers/e{i:02d}",
                      json={"age": 20 + i, "language": "th" if i % 2 else "vi", "gender": "female"})
        assert r.status_code == 201
    events = [{"event_id": f"o{i}", "type": "order_paid", "customer_id": f"e{i:02d}",
               "occurred_at": at(i + 1), "order_id": f"ord{i}", "amount": "42.00",
               "currency": "THB"} for i in range(0, 12, 3)]
    assert http.call("POST", "/v1/events", json={"events": events}).status_code == 202

    rule = {"all": [{"attr": "language", "op": "eq", "value": "th"},
                    {"attr": "age", "op": "between", "value": [20, 40]},
                    {"not": {"event": "order", "within_days": 30}}]}
    preview = http.call("POST", "/v1/segments/preview", json={"rule": rule})
    assert preview.status_code == 200
    expected = {f"e{i:02d}" for i in range(12) if i % 2 and i % 3}
    assert preview.json()["size"] == len(expected) and preview.json()["warnings"] == []

    created = http.call("POST", "/v1/segments", json={"name": "Thai, no recent order", "rule": rule})
    assert created.status_code == 201 and created.headers["ETag"] == "1"
    sid = created.json()["segment_id"]

    seen, cursor = [], None
    while True:
        r = http.call("GET", f"/v1/segments/{sid}/members?limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status_code == 200
        seen += [m["customer_id"] for m in r.json()["items"]]
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert sorted(seen) == sorted(expected)

    why = http.call("GET", f"/v1/segments/{sid}/explain/e03").json()
    assert why["member"] is False
    by_path = {c["path"]: c for c in why["conditions"]}
    assert by_path["all[2]"]["held"] is False and by_path["all[2].not"]["saw"] == 1
    assert http.call("GET", f"/v1/segments/{sid}/explain/e01").json()["member"] is True

    insights = http.call("GET", f"/v1/segments/{sid}/insights").json()
    assert insights["size"] == len(expected) and insights["languages"] == {"th": len(expected)}

    stale = http.call("PATCH", f"/v1/segments/{sid}", json={"name": "x"}, headers={"If-Match": "0"})
    assert stale.status_code == 412
    assert http.call("DELETE", f"/v1/segments/{sid}").status_code == 204


def test_bad_rules_are_400_with_paths_over_http(http):
    r = http.call("POST", "/v1/segments/preview",
                  json={"rule": {"any": [{"attr": "age", "op": "gte", "value": 1},
                                         {"event": "order", "within_days": 0}]}})
    assert r.status_code == 400
    assert r.json()["error"]["details"][0]["path"] == "rule.any[1].within_days"
    assert http.as_role("viewer").call("POST", "/v1/segments", json={"name": "x"}).status_code == 403


def test_every_builtin_and_the_sample_segment_have_members_in_the_demo_shop(demo):
    listed = demo.call("GET", "/v1/segments").json()["items"]
    assert [s["segment_id"] for s in listed][:7] == BUILTINS
    for seg in BUILTINS:
        members = demo.call("GET", f"/v1/segments/{seg}/members?limit=5").json()["items"]
        assert members, seg
        first = members[0]["customer_id"]
        assert seg in demo.call("GET", f"/v1/customers/{first}").json()["segments"]
        assert demo.call("GET", f"/v1/segments/{seg}/explain/{first}").json()["member"] is True
    sample = demo.call("GET", "/v1/segments/seg_demo_thai_winback").json()
    assert sample["builtin"] is False and sample["warnings"] == []
    assert demo.call("GET", "/v1/segments/seg_demo_thai_winback/members").json()["items"]
    insights = demo.call("GET", "/v1/segments/loyal/insights").json()
    assert insights["size"] > 0 and insights["orders"] >= 2 * insights["size"]
