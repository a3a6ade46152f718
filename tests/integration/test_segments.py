"""Segments over the API against moto: catalogue, CRUD with versions, preview, members,
listing by segment, insights, explain, roles and tenant isolation."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

BUILTINS = ["potential_new", "recent", "repeat", "loyal", "lapsed", "new_followers",
            "active_followers"]
ADULT = {"attr": "age", "op": "gte", "value": 18}
THAI = {"attr": "language", "op": "eq", "value": "th"}
BUYER = {"event": "order", "within_days": 30}


@pytest.fixture
def api(audience_api):
    """Every test here runs over both audience sources (conftest ``audience_api``)."""
    return audience_api


def at(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def add_customers(api, profiles: dict[str, dict], events: list[dict] | None = None) -> None:
    for cid, fields in profiles.items():
        assert api.put(f"/v1/customers/{cid}", fields).status_code in (200, 201)
    if events:
        r = api.post("/v1/events", {"events": events})
        assert r.status_code == 202 and not r.json["rejected"], r.json


def paid(cid: str, days: float, amount: str = "10.00", n: int = 0) -> dict:
    return {"event_id": f"{cid}-o{days}-{n}", "type": "order_paid", "customer_id": cid,
            "occurred_at": at(days), "order_id": f"{cid}-{days}-{n}", "amount": amount,
            "currency": "THB"}


@pytest.fixture
def shop(api):
    """c1 Thai adult buyer (2 orders), c2 Thai adult follower, c3 Vietnamese teen, c4 empty."""
    add_customers(api, {"c1": {"age": 30, "language": "th", "gender": "female", "region": "Bangkok"},
                        "c2": {"age": 45, "language": "th-TH", "gender": "male"},
                        "c3": {"age": 16, "language": "vi"},
                        "c4": {}},
                  [paid("c1", 5, "25.00"), paid("c1", 60, "80.00"),
                   {"event_id": "f2", "type": "followed", "customer_id": "c2", "occurred_at": at(2)}])
    return api


def create(api, rule: dict, name: str = "Segment") -> dict:
    r = api.post("/v1/segments", {"name": name, "rule": rule})
    assert r.status_code == 201, r.json
    return r.json


def test_builtins_are_listed_for_every_seller_and_immutable(api):
    r = api.get("/v1/segments")
    assert r.status_code == 200
    assert [s["segment_id"] for s in r.json["items"]] == BUILTINS
    assert all(s["builtin"] is True and s["rule"] for s in r.json["items"])
    for seg in BUILTINS:
        assert api.get(f"/v1/segments/{seg}").json["name"]
        assert api.patch(f"/v1/segments/{seg}", {"name": "mine"}).status_code == 409
        assert api.delete(f"/v1/segments/{seg}").status_code == 409


def test_create_returns_201_with_version_etag_and_warnings(api):
    r = api.post("/v1/segments", {"name": "  Thai adults ", "rule": {"all": [ADULT, THAI]}})
    assert r.status_code == 201
    body = r.json
    assert body["segment_id"] not in BUILTINS and body["builtin"] is False
    assert (body["name"], body["version"], r.headers["ETag"]) == ("Thai adults", 1, "1")
    assert body["rule"] == {"all": [ADULT, THAI]}
    assert len(body["warnings"]) == 1 and "3" in body["warnings"][0]
    assert create(api, {"all": [ADULT, THAI, BUYER]})["warnings"] == []
    listed = [s["segment_id"] for s in api.get("/v1/segments").json["items"]]
    assert listed[:7] == BUILTINS and body["segment_id"] in listed


@pytest.mark.parametrize("body, path", [
    ({"name": "", "rule": ADULT}, "name"),
    ({"name": "x" * 101, "rule": ADULT}, "name"),
    ({"rule": ADULT}, "name"),
    ({"name": "n"}, "rule"),
    ({"name": "n", "rule": [ADULT]}, "rule"),
    ({"name": "n", "rule": {"all": [ADULT, {"attr": "age", "op": "gt", "value": 1}]}}, "rule.all[1].op"),
    ({"name": "n", "rule": {"segment": "nope"}}, "rule.segment"),
    ({"name": "n", "rule": {"any": [ADULT, {"tags": {"any": ["no-such-tag"]}}]}}, "rule.any[1].tags.any[0]"),
    ({"name": "n", "rule": {"event": "order", "within_days": 400}}, "rule.within_days"),
])
def test_bad_segment_bodies_are_400_naming_the_path(api, body, path):
    r = api.post("/v1/segments", body)
    assert r.status_code == 400
    assert r.json["error"]["code"] == "validation_error"
    assert path in [d["path"] for d in r.json["error"]["details"]]


def test_unknown_tag_names_are_named_in_the_message(api):
    r = api.post("/v1/segments/preview", {"rule": {"tags": {"all": ["ghost", "phantom"]}}})
    assert r.status_code == 400
    assert "ghost" in r.json["error"]["message"] and "phantom" in r.json["error"]["message"]


def test_patch_needs_a_fresh_version(api):
    seg = create(api, ADULT)
    sid = seg["segment_id"]
    r = api.patch(f"/v1/segments/{sid}", {"name": "Adults"}, headers={"If-Match": "1"})
    assert (r.status_code, r.json["version"], r.headers["ETag"]) == (200, 2, "2")
    stale = api.patch(f"/v1/segments/{sid}", {"name": "Lost update"}, headers={"If-Match": "1"})
    assert stale.status_code == 412 and stale.json["error"]["code"] == "precondition_failed"
    r = api.patch(f"/v1/segments/{sid}", {"rule": {"all": [ADULT, THAI]}}, headers={"If-Match": '"2"'})
    assert r.status_code == 200 and r.json["rule"] == {"all": [ADULT, THAI]}
    got = api.get(f"/v1/segments/{sid}")
    assert (got.json["name"], got.json["version"], got.headers["ETag"]) == ("Adults", 3, "3")
    assert api.patch(f"/v1/segments/{sid}", {"name": None}).status_code == 400
    assert api.patch(f"/v1/segments/{sid}", {"name": "x"}, headers={"If-Match": "abc"}).status_code == 400


def test_a_segment_cannot_reuse_itself_through_others(api):
    a = create(api, ADULT)["segment_id"]
    b = create(api, {"all": [THAI, {"segment": a}]})["segment_id"]
    r = api.patch(f"/v1/segments/{a}", {"rule": {"segment": b}})
    assert r.status_code == 400
    assert r.json["error"]["details"][0]["path"] == "rule.segment"
    assert "cycle" in r.json["error"]["details"][0]["message"]
    assert api.patch(f"/v1/segments/{a}", {"rule": {"segment": a}}).status_code == 400


def test_delete_refuses_a_segment_another_one_reuses(api):
    a = create(api, ADULT)["segment_id"]
    b = create(api, {"not": {"segment": a}})["segment_id"]
    r = api.delete(f"/v1/segments/{a}")
    assert r.status_code == 409 and b in r.json["error"]["message"]
    assert api.delete(f"/v1/segments/{b}", headers={"If-Match": "7"}).status_code == 412
    assert api.delete(f"/v1/segments/{b}").status_code == 204
    assert api.delete(f"/v1/segments/{a}").status_code == 204
    assert api.get(f"/v1/segments/{a}").status_code == 404
    assert api.delete(f"/v1/segments/{a}").status_code == 404


def test_preview_gives_size_sample_and_warnings(shop):
    r = shop.post("/v1/segments/preview", {"rule": THAI})
    assert r.status_code == 200
    assert r.json["size"] == 1 and sorted(r.json["sample"]) == ["c1"]   # c2 is th-TH, not th
    assert r.json["warnings"]
    r = shop.post("/v1/segments/preview", {"rule": {"all": [THAI, ADULT, BUYER]}, "sample_size": 0})
    assert (r.json["size"], r.json["sample"], r.json["warnings"]) == (1, [], [])
    assert shop.post("/v1/segments/preview", {"rule": {"attr": "age", "op": "gte", "value": 99}}
                     ).json["size"] == 0


def test_preview_sees_an_event_posted_just_before(api):
    add_customers(api, {"n1": {"age": 20}})
    rule = {"event": "favorited", "within_days": 1}
    assert api.post("/v1/segments/preview", {"rule": rule}).json["size"] == 0
    add_customers(api, {}, [{"event_id": "fav1", "type": "favorited", "customer_id": "n1",
                             "occurred_at": at(0.01), "product_id": "p1"}])
    assert api.post("/v1/segments/preview", {"rule": rule}).json["sample"] == ["n1"]


@pytest.mark.parametrize("op, value, members", [
    ("eq", "th", ["c1"]),                  # c2 is stored as th-TH: no primary-subtag match
    ("eq", "th-TH", ["c2"]),
    ("eq", "th-th", []),                   # case and all
    ("ne", "th", ["c2", "c3"]),            # c4 has no language: fails all but exists false
    ("in", ["th", "th-TH"], ["c1", "c2"]),
    ("in", ["TH", "th-th"], []),
    ("not_in", ["th"], ["c2", "c3"]),
    ("not_in", ["th-TH", "vi"], ["c1"]),
])
def test_language_compares_the_stored_tag_exactly_case_and_all(shop, op, value, members):
    rule = {"attr": "language", "op": op, "value": value}
    r = shop.post("/v1/segments/preview", {"rule": rule, "sample_size": 10})
    assert r.status_code == 200 and sorted(r.json["sample"]) == members
    sid = create(shop, rule)["segment_id"]
    listed = [m["customer_id"] for m in shop.get(f"/v1/segments/{sid}/members").json["items"]]
    assert sorted(listed) == members
    for cid in ("c1", "c2", "c3", "c4"):        # the explain view agrees with membership
        body = shop.get(f"/v1/segments/{sid}/explain/{cid}").json
        assert body["member"] is body["conditions"][0]["held"] is (cid in members)


@pytest.mark.parametrize("days_ago, status", [(0, 200), (3650, 200), (-1, 400), (3651, 400)])
def test_days_ago_is_0_to_3650(api, days_ago, status):
    rule = {"all": [ADULT, {"not": {"attr": "first_order_at", "op": "gte",
                                    "value": {"days_ago": days_ago}}}]}
    r = api.post("/v1/segments/preview", {"rule": rule})
    assert r.status_code == status, r.json
    if status == 400:
        assert r.json["error"]["code"] == "validation_error"
        assert [d["path"] for d in r.json["error"]["details"]] == ["rule.all[1].not.value"]
        assert "3650" in r.json["error"]["details"][0]["message"]


def test_members_pages_list_every_member_exactly_once(api):
    add_customers(api, {f"m{i:02d}": {"age": 20 + i % 3} for i in range(23)})
    sid = create(api, {"attr": "age", "op": "in", "value": [20, 21]})["segment_id"]
    expected = {f"m{i:02d}" for i in range(23) if i % 3 in (0, 1)}
    seen: list[str] = []
    cursor, pages = None, 0
    while True:
        r = api.get(f"/v1/segments/{sid}/members?limit=4" + (f"&cursor={cursor}" if cursor else ""))
        assert r.status_code == 200 and len(r.json["items"]) <= 4
        seen += [m["customer_id"] for m in r.json["items"]]
        cursor, pages = r.json["next_cursor"], pages + 1
        if not cursor:
            break
    assert len(seen) == len(set(seen)) and set(seen) == expected
    assert pages == -(-len(expected) // 4)


def test_members_of_a_builtin_and_customers_by_segment(shop):
    assert shop.get("/v1/segments/new_followers/members").json["items"] == [{"customer_id": "c2"}]
    sid = create(shop, {"all": [THAI, BUYER]})["segment_id"]
    r = shop.get(f"/v1/customers?segment_id={sid}")
    assert r.status_code == 200 and [c["customer_id"] for c in r.json["items"]] == ["c1"]
    assert shop.get("/v1/customers?segment_id=nope").status_code == 404
    assert shop.get("/v1/segments/nope/members").status_code == 404


def test_customer_view_shows_current_builtins(shop):
    assert shop.get("/v1/customers/c1").json["segments"] == ["repeat", "loyal"]
    assert shop.get("/v1/customers/c2").json["segments"] == ["new_followers"]
    assert shop.get("/v1/customers/c4").json["segments"] == []


def test_insights_describe_the_members(shop):
    sid = create(shop, THAI)["segment_id"]
    r = shop.get(f"/v1/segments/{sid}/insights")
    assert r.status_code == 200
    got = r.json
    # THAI is language eq "th": c1 only (c2's th-TH is another tag, API.md "Segments")
    assert (got["size"], got["follower_share"]) == (1, 0.0)
    assert got["gender"] == {"female": 1}
    assert got["age_bands"]["25-34"] == 1 and got["age_bands"]["45-54"] == 0
    assert got["regions"] == {"Bangkok": 1}
    assert got["languages"] == {"th": 1}
    assert (got["orders"], got["gmv"], got["aov"]) == (2, "105.00", "52.50")
    assert got["price_bands"]["10-50"] == 1 and got["price_bands"]["50-100"] == 1
    assert shop.get("/v1/segments/lapsed/insights").json["size"] == 0
    assert shop.get("/v1/segments/loyal/insights").json["orders"] == 2


def test_explain_says_why_a_customer_is_in_or_out(shop):
    sid = create(shop, {"all": [THAI, ADULT, BUYER]})["segment_id"]
    r = shop.get(f"/v1/segments/{sid}/explain/c2")
    assert r.status_code == 200
    body = r.json
    assert (body["segment_id"], body["customer_id"], body["member"]) == (sid, "c2", False)
    by_path = {c["path"]: c for c in body["conditions"]}
    assert (by_path["all[0]"]["held"], by_path["all[0]"]["saw"]) == (False, "th-TH")
    assert (by_path["all[1]"]["held"], by_path["all[1]"]["saw"]) == (True, 45)
    assert (by_path["all[2]"]["held"], by_path["all[2]"]["saw"]) == (False, 0)
    assert shop.get(f"/v1/segments/{sid}/explain/c1").json["member"] is True
    assert shop.get("/v1/segments/repeat/explain/c1").json["member"] is True
    assert shop.get(f"/v1/segments/{sid}/explain/ghost").status_code == 404
    assert shop.get("/v1/segments/nope/explain/c1").status_code == 404


def test_rules_name_tags_and_survive_a_rename(api):
    from chalicelib.domain.tags import norm_name
    from chalicelib.store import customers as repo
    from chalicelib.store.tags import TagItem

    add_customers(api, {"t1": {}, "t2": {}})
    TagItem(seller_id=api.seller_id, tag_id="tg-vip", name="VIP", norm=norm_name("VIP"),
            dimension="custom", color="#6B7280").save()
    item = repo.get(api.seller_id, "t1")
    item.tags = {"tg-vip"}
    repo.save(item)
    seg = create(api, {"tags": {"any": ["vip "]}})
    assert seg["rule"] == {"tags": {"any": ["VIP"]}}
    sid = seg["segment_id"]
    assert api.get(f"/v1/segments/{sid}/members").json["items"] == [{"customer_id": "t1"}]
    renamed = TagItem.get(api.seller_id, "tg-vip")
    renamed.name, renamed.norm = "Gold", "gold"
    renamed.save()
    assert api.get(f"/v1/segments/{sid}").json["rule"] == {"tags": {"any": ["Gold"]}}
    assert api.get(f"/v1/segments/{sid}/members").json["items"] == [{"customer_id": "t1"}]
    assert api.get(f"/v1/segments/{sid}/explain/t1").json["conditions"][0]["saw"] == ["Gold"]
    r = api.post("/v1/segments/preview", {"rule": {"tags": {"none": ["gold"]}}})
    assert r.json["sample"] == ["t2"]


@pytest.mark.parametrize("method, path, body", [
    ("POST", "/v1/segments", {"name": "x", "rule": ADULT}),
    ("PATCH", "/v1/segments/{sid}", {"name": "x"}),
    ("DELETE", "/v1/segments/{sid}", None),
])
def test_viewers_read_but_only_operators_change(api, method, path, body):
    sid = create(api, ADULT)["segment_id"]
    viewer = api.as_role("viewer")
    assert viewer.call(method, path.format(sid=sid), body).status_code == 403
    assert viewer.call(method, path.format(sid=sid), {"bad": 1} if body else None).status_code == 403
    assert api.as_role("operator").call(method, path.format(sid=sid), body).status_code in (200, 201, 204)


def test_viewers_can_read_preview_members_insights_and_explain(shop):
    viewer = shop.as_role("viewer")
    assert viewer.get("/v1/segments").status_code == 200
    assert viewer.post("/v1/segments/preview", {"rule": THAI}).status_code == 200
    assert viewer.get("/v1/segments/loyal/members").status_code == 200
    assert viewer.get("/v1/segments/loyal/insights").status_code == 200
    assert viewer.get("/v1/segments/loyal/explain/c1").status_code == 200


def test_another_sellers_segments_are_not_found(api):
    sid = create(api, ADULT)["segment_id"]
    other = api.as_seller("someone-else")
    for method, path in [("GET", f"/v1/segments/{sid}"), ("PATCH", f"/v1/segments/{sid}"),
                         ("DELETE", f"/v1/segments/{sid}"), ("GET", f"/v1/segments/{sid}/members"),
                         ("GET", f"/v1/segments/{sid}/insights"),
                         ("GET", f"/v1/segments/{sid}/explain/c1")]:
        assert other.call(method, path, {"name": "x"} if method == "PATCH" else None).status_code == 404
    assert other.post("/v1/segments/preview", {"rule": {"segment": sid}}).status_code == 400
    assert sid not in [s["segment_id"] for s in other.get("/v1/segments").json["items"]]


def test_segment_list_pages(api):
    for i in range(3):
        create(api, ADULT, name=f"s{i}")
    r = api.get("/v1/segments?limit=6")
    assert len(r.json["items"]) == 6 and r.json["next_cursor"]
    rest = api.get(f"/v1/segments?limit=6&cursor={r.json['next_cursor']}").json
    assert len(rest["items"]) == 4 and rest["next_cursor"] is None


@pytest.mark.parametrize("state", [{"s": "x"}, {"s": 99}, {"s": 0, "a": 5}, {"s": True},
                                   {"s": -1, "a": "c1"}])
def test_a_tampered_members_cursor_is_400(api, state):
    from chalicelib.api.routing import encode_cursor

    r = api.get(f"/v1/segments/loyal/members?cursor={encode_cursor(state)}")
    assert r.status_code == 400 and r.json["error"]["details"][0]["path"] == "cursor"


@pytest.mark.parametrize("cursor", ["%%%", "bm90LWpzb24", "eyJvIjogIngifQ", "eyJvIjogLTF9"])
def test_a_tampered_segment_list_cursor_is_400(api, cursor):
    assert api.get(f"/v1/segments?cursor={cursor}").status_code == 400


def test_ids_longer_than_any_id_are_400_not_500(api):
    # API.md "Ids": an id outside 1-128 of the id alphabet is a 400 (it used to be a 404)
    long = "x" * 2000
    for method, path in [("GET", f"/v1/segments/{long}"), ("PATCH", f"/v1/segments/{long}"),
                         ("DELETE", f"/v1/segments/{long}"), ("GET", f"/v1/segments/{long}/members"),
                         ("GET", f"/v1/segments/{long}/insights"),
                         ("GET", f"/v1/segments/loyal/explain/{long}")]:
        assert api.call(method, path, {"name": "x"} if method == "PATCH" else None).status_code == 400


def test_a_chain_of_reused_segments_deeper_than_the_limit_is_400_naming_the_reference(api):
    from chalicelib.domain.reuse import MAX_REUSE_DEPTH

    # each segment names the one before twice (the case that used to cost 2^n)
    prev = create(api, ADULT)["segment_id"]
    for _ in range(MAX_REUSE_DEPTH - 1):
        prev = create(api, {"all": [{"segment": prev}, {"not": {"not": {"segment": prev}}}]})[
            "segment_id"]
    r = api.post("/v1/segments/preview", {"rule": {"all": [THAI, {"segment": prev}]}})
    assert r.status_code == 200                                    # MAX_REUSE_DEPTH deep
    r = api.post("/v1/segments", {"name": "too deep",
                                  "rule": {"all": [THAI, {"segment": prev}]}})
    assert r.status_code == 201
    r = api.post("/v1/segments/preview", {"rule": {"segment": r.json["segment_id"]}})
    assert r.status_code == 400
    assert r.json["error"]["details"][0]["path"] == "rule.segment"
    assert f"{MAX_REUSE_DEPTH + 1} deep" in r.json["error"]["details"][0]["message"]


def test_editing_a_reused_segment_cannot_deepen_the_chains_above_it(api):
    from chalicelib.domain.reuse import MAX_REUSE_DEPTH

    bottom = create(api, ADULT)["segment_id"]
    create(api, {"segment": create(api, {"segment": bottom})["segment_id"]})
    chain = create(api, THAI)["segment_id"]
    for _ in range(MAX_REUSE_DEPTH - 2):
        chain = create(api, {"segment": chain})["segment_id"]
    r = api.patch(f"/v1/segments/{bottom}", {"rule": {"segment": chain}})
    assert r.status_code == 400 and r.json["error"]["details"][0]["path"] == "rule.segment"
    assert "which reuses this one" in r.json["error"]["details"][0]["message"]
    assert api.get(f"/v1/segments/{bottom}").json["rule"] == ADULT


def test_a_rule_reaching_more_segments_than_the_limit_is_400(api):
    from chalicelib.domain.reuse import MAX_REUSED

    ids = [create(api, {**ADULT, "value": 18 + i})["segment_id"] for i in range(MAX_REUSED + 1)]
    half = len(ids) // 2
    rule = {"any": [{"any": [{"segment": s} for s in ids[:half]]},
                    {"any": [{"segment": s} for s in ids[half:]]}]}
    r = api.post("/v1/segments/preview", {"rule": rule})
    assert r.status_code == 400
    assert r.json["error"]["details"][0]["path"].startswith("rule.any[")
    assert f"{MAX_REUSED + 1} segments" in r.json["error"]["details"][0]["message"]
    rule["any"][1]["any"].pop()
    assert api.post("/v1/segments/preview", {"rule": rule}).status_code == 200


def _ms_iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="milliseconds").replace(
        "+00:00", "Z")


def test_a_window_never_counts_the_partial_day_at_its_far_edge(api):
    """API.md "Exactness of windows" through the HTTP preview: past a customer's 50 most
    recent events of a type, an event in the day that straddles the window's far edge does
    not count, one in a whole day inside does, and at most 50 events are counted exactly."""
    day = 86_400_000
    now = int(datetime.now(UTC).timestamp() * 1000)
    edge = now - 7 * day
    # Inside the window and in the edge's partial day: a minute in, or as far in as that day
    # goes when the edge is within a minute of midnight (the edge itself is inside).
    inside = edge + min(60_000, day - 1 - edge % day)
    whole_day = (edge // day + 1) * day + 60_000         # a day wholly inside the window

    def views(cid: str, times: list[int]) -> list[dict]:
        return [{"event_id": f"{cid}-v{i}", "type": "live_viewed", "customer_id": cid,
                 "occurred_at": _ms_iso(t), "live_id": "l1"} for i, t in enumerate(times)]

    latest = [now - 60_000 - i * 1000 for i in range(50)]
    add_customers(api, {"heavy_partial": {}, "heavy_whole": {}, "light_partial": {}},
                  views("heavy_partial", latest + [inside])
                  + views("heavy_whole", latest + [whole_day])
                  + views("light_partial", latest[:10] + [inside]))

    def preview(gte: int) -> tuple[int, list[str]]:
        rule = {"event": "live_viewed", "within_days": 7, "count": {"gte": gte}}
        r = api.post("/v1/segments/preview", {"rule": rule})
        assert r.status_code == 200, r.json
        return r.json["size"], sorted(r.json["sample"])

    assert preview(51) == (1, ["heavy_whole"])
    assert preview(50) == (2, ["heavy_partial", "heavy_whole"])
    assert preview(11) == (3, ["heavy_partial", "heavy_whole", "light_partial"])
    assert preview(12)[0] == 2


def test_segment_list_items_carry_their_size_now_and_see_a_write_at_once(shop):
    def sizes() -> dict[str, int]:
        r = shop.get("/v1/segments?limit=200")
        assert r.status_code == 200, r.json
        return {s["segment_id"]: s["size"] for s in r.json["items"]}

    def members(segment_id: str) -> list[str]:
        r = shop.get(f"/v1/segments/{segment_id}/members?limit=200")
        return [m["customer_id"] for m in r.json["items"]]

    before = sizes()
    assert before == {s: len(members(s)) for s in before}
    assert before["new_followers"] == 1 and before["recent"] == 0
    r = shop.post("/v1/events", {"events": [{"event_id": "f4", "type": "followed",
                                             "customer_id": "c4", "occurred_at": at(0.5)}]})
    assert r.status_code == 202 and r.json["accepted"] == 1
    after = sizes()   # read-your-writes: the follow just posted counts
    assert after["new_followers"] == 2 and after == {s: len(members(s)) for s in after}
