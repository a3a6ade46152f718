"""Tags over the HTTP contract: governance, assignments, bulk, audit (moto in-process)."""

from __future__ import annotations

import pytest

from chalicelib.domain.tags import DIMENSION_COLORS


@pytest.fixture
def api(audience_api):
    """Every test here runs over both audience sources (conftest ``audience_api``)."""
    return audience_api


def make_tag(api, name, dimension="custom", **extra):
    r = api.post("/v1/tags", {"name": name, "dimension": dimension, **extra})
    assert r.status_code == 201, r.json
    return r.json


def make_customer(api, cid, **profile):
    r = api.put(f"/v1/customers/{cid}", profile or {"name": "Somchai"})
    assert r.status_code in (200, 201), r.json


def audit(api, limit=200):
    return api.get(f"/v1/tags/audit?limit={limit}").json["items"]


@pytest.mark.parametrize("second", ["paid", "Paid ", "PAID", " p aid", "pA\tid"])
def test_tag_names_are_unique_ignoring_case_and_spaces(api, second):
    make_tag(api, "Paid")
    r = api.post("/v1/tags", {"name": second, "dimension": "custom"})
    assert r.status_code == 409
    assert r.json["error"]["code"] == "conflict"
    assert "Paid" in r.json["error"]["message"]


@pytest.mark.parametrize("dimension", ["spending", "", "CUSTOM", None])
def test_dimension_must_be_from_the_fixed_list(api, dimension):
    r = api.post("/v1/tags", {"name": "x", "dimension": dimension})
    assert r.status_code == 400
    assert r.json["error"]["details"][0]["path"] == "dimension"


@pytest.mark.parametrize("dimension,color", sorted(DIMENSION_COLORS.items()))
def test_colour_defaults_to_the_dimension_colour(api, dimension, color):
    tag = make_tag(api, f"t-{dimension}", dimension)
    assert tag["color"] == color and tag["kind"] == "static"


def test_explicit_colour_and_kind_are_kept(api):
    tag = make_tag(api, "churn_risk", "interaction_frequency", color="#112233", kind="dynamic")
    assert (tag["color"], tag["kind"], tag["dimension"]) == ("#112233", "dynamic",
                                                             "interaction_frequency")
    assert tag["tag_id"] and tag["version"] == 1
    assert api.get(f"/v1/tags/{tag['tag_id']}").json == tag


@pytest.mark.parametrize("body", [
    {"name": "", "dimension": "custom"},
    {"name": "a,b", "dimension": "custom"},
    {"name": "x" * 51, "dimension": "custom"},
    {"name": "x", "dimension": "custom", "color": "red"},
    {"name": "x", "dimension": "custom", "kind": "smart"},
    {"dimension": "custom"},
])
def test_bad_tag_bodies_are_400(api, body):
    assert api.post("/v1/tags", body).status_code == 400


@pytest.mark.parametrize("role,status", [("viewer", 403), ("operator", 403), ("admin", 201),
                                         ("owner", 201)])
def test_only_owner_and_admin_create_tags(api, role, status):
    assert api.as_role(role).post("/v1/tags", {"name": "vip", "dimension": "custom"}
                                  ).status_code == status


@pytest.mark.parametrize("role", ["viewer", "operator"])
def test_only_owner_and_admin_rename_or_delete_tags(api, role):
    tag = make_tag(api, "vip")
    who = api.as_role(role)
    assert who.patch(f"/v1/tags/{tag['tag_id']}", {"name": "VIP2"}).status_code == 403
    assert who.delete(f"/v1/tags/{tag['tag_id']}").status_code == 403
    # 403 comes before validation
    assert who.post("/v1/tags", {"nonsense": 1}).status_code == 403


def test_operator_may_assign_and_remove_existing_tags(api):
    make_tag(api, "vip")
    make_customer(api, "c1")
    op = api.as_role("operator")
    r = op.post("/v1/customers/c1/tags", {"add": ["VIP"]})
    assert r.status_code == 200 and r.json["tags"] == ["vip"] and r.json["added"] == ["vip"]
    assert api.get("/v1/customers/c1").json["tags"] == ["vip"]
    r = op.post("/v1/customers/c1/tags", {"remove": ["vip"]})
    assert r.json["tags"] == [] and r.json["removed"] == ["vip"]
    assert api.as_role("viewer").post("/v1/customers/c1/tags", {"add": ["vip"]}).status_code == 403


def test_rename_keeps_every_assignment(api):
    tag = make_tag(api, "vip")
    make_customer(api, "c1")
    api.post("/v1/customers/c1/tags", {"add": ["vip"]})
    r = api.patch(f"/v1/tags/{tag['tag_id']}", {"name": "VIP gold"})
    assert r.status_code == 200 and r.json["name"] == "VIP gold" and r.json["version"] == 2
    assert api.get("/v1/customers/c1").json["tags"] == ["VIP gold"]
    # the old name is free again, the new one is taken
    assert api.post("/v1/tags", {"name": "vip", "dimension": "custom"}).status_code == 201
    assert api.post("/v1/tags", {"name": "vipgold", "dimension": "custom"}).status_code == 409
    renamed = [e for e in audit(api) if e["action"] == "renamed"]
    assert [(e["tag"], e["reason"]) for e in renamed] == [("VIP gold", "renamed from 'vip'")]


def test_rename_to_another_tags_name_conflicts(api):
    make_tag(api, "vip")
    other = make_tag(api, "gold")
    r = api.patch(f"/v1/tags/{other['tag_id']}", {"name": " V I P"})
    assert r.status_code == 409
    assert api.get(f"/v1/tags/{other['tag_id']}").json["name"] == "gold"


def test_patch_with_a_stale_if_match_is_412(api):
    tag = make_tag(api, "vip")
    path = f"/v1/tags/{tag['tag_id']}"
    assert api.patch(path, {"color": "#000000"}, headers={"If-Match": "1"}).status_code == 200
    r = api.patch(path, {"color": "#FFFFFF"}, headers={"If-Match": "1"})
    assert r.status_code == 412
    assert api.get(path).json["color"] == "#000000"


def test_changing_dimension_moves_the_default_colour(api):
    tag = make_tag(api, "vip")
    r = api.patch(f"/v1/tags/{tag['tag_id']}", {"dimension": "spending_power"})
    assert r.json["color"] == DIMENSION_COLORS["spending_power"]


def test_delete_removes_every_assignment_and_is_audited(api):
    tag = make_tag(api, "vip")
    keep = make_tag(api, "gold")
    for cid in ("c1", "c2", "c3"):
        make_customer(api, cid)
    for cid in ("c1", "c2"):
        api.post(f"/v1/customers/{cid}/tags", {"add": ["vip", "gold"]})
    assert api.delete(f"/v1/tags/{tag['tag_id']}").status_code == 204
    assert api.get(f"/v1/tags/{tag['tag_id']}").status_code == 404
    from chalicelib.store import customers as repo

    for cid in ("c1", "c2"):
        assert repo.get(api.seller_id, cid).tags == {keep["tag_id"]}
        assert api.get(f"/v1/customers/{cid}").json["tags"] == ["gold"]
    entries = audit(api)
    removed = {e["customer_id"] for e in entries if e["action"] == "removed"}
    assert removed == {"c1", "c2"}
    assert entries[0]["action"] == "deleted" and entries[0]["tag"] == "vip"
    # the name can be used again
    assert api.post("/v1/tags", {"name": "VIP", "dimension": "custom"}).status_code == 201


@pytest.mark.parametrize("body,path", [
    ({"add": ["vip", "nope"]}, "add[1]"),
    ({"remove": ["ghost"]}, "remove[0]"),
])
def test_unknown_tag_names_are_400_naming_them(api, body, path):
    make_tag(api, "vip")
    make_customer(api, "c1")
    r = api.post("/v1/customers/c1/tags", body)
    assert r.status_code == 400
    assert [d["path"] for d in r.json["error"]["details"]] == [path]
    assert "does not exist" in r.json["error"]["message"]


def test_same_tag_added_and_removed_is_400(api):
    make_tag(api, "vip")
    make_customer(api, "c1")
    assert api.post("/v1/customers/c1/tags", {"add": ["vip"], "remove": ["VIP"]}
                    ).status_code == 400


def test_assign_on_unknown_or_another_sellers_customer_is_404(api):
    make_tag(api, "vip")
    make_customer(api.as_seller(api.seller_id + "-other"), "theirs")
    assert api.post("/v1/customers/theirs/tags", {"add": ["vip"]}).status_code == 404
    assert api.post("/v1/customers/nobody/tags", {"add": ["vip"]}).status_code == 404


def test_another_sellers_tag_is_404(api):
    tag = make_tag(api, "vip")
    other = api.as_seller(api.seller_id + "-other")
    path = f"/v1/tags/{tag['tag_id']}"
    assert other.get(path).status_code == 404
    assert other.patch(path, {"name": "mine"}).status_code == 404
    assert other.delete(path).status_code == 404
    assert api.get(path).json["name"] == "vip"


def test_assignment_changes_are_audited_with_who_and_why(api):
    make_tag(api, "vip")
    make_customer(api, "c1")
    api.as_role("operator").post("/v1/customers/c1/tags", {"add": ["vip"], "reason": "big spender"})
    api.post("/v1/customers/c1/tags", {"remove": ["vip"]})
    newest, older = audit(api)[:2]
    assert (newest["action"], newest["actor"], newest["customer_id"], newest["tag"]) == (
        "removed", "user-owner", "c1", "vip")
    assert (older["action"], older["actor"], older["reason"]) == ("added", "user-operator",
                                                                  "big spender")
    assert newest["at"].endswith("Z")


def test_adding_a_tag_already_there_is_no_change_and_not_audited(api):
    make_tag(api, "vip")
    make_customer(api, "c1")
    api.post("/v1/customers/c1/tags", {"add": ["vip"]})
    before = len(audit(api))
    r = api.post("/v1/customers/c1/tags", {"add": ["vip"], "remove": []})
    assert r.json["added"] == [] and r.json["tags"] == ["vip"]
    assert len(audit(api)) == before


def test_audit_is_newest_first_and_paginates_without_gaps(api):
    names = [f"tag{i}" for i in range(7)]
    for name in names:
        make_tag(api, name)
    seen, cursor = [], None
    while True:
        r = api.get("/v1/tags/audit?limit=3" + (f"&cursor={cursor}" if cursor else ""))
        seen += r.json["items"]
        cursor = r.json["next_cursor"]
        if not cursor:
            break
    assert [e["tag"] for e in seen] == list(reversed(names))
    assert api.get("/v1/tags/audit?cursor=%%%").status_code == 400


def test_tags_list_paginates(api):
    for i in range(5):
        make_tag(api, f"t{i}")
    first = api.get("/v1/tags?limit=2").json
    assert len(first["items"]) == 2 and first["next_cursor"]
    rest = api.get(f"/v1/tags?limit=10&cursor={first['next_cursor']}").json
    assert len(rest["items"]) == 3 and rest["next_cursor"] is None
    assert api.as_role("viewer").get("/v1/tags").status_code == 200


def test_bulk_by_filter_adds_and_removes_and_counts(api):
    make_tag(api, "java")
    make_tag(api, "old")
    for i in range(6):
        make_customer(api, f"c{i}", name=f"n{i}", region="Java" if i < 4 else "Bali")
    api.post("/v1/customers/c0/tags", {"add": ["java"]})       # already has it
    api.post("/v1/customers/c1/tags", {"add": ["old"]})
    api.post("/v1/customers/c5/tags", {"add": ["old"]})        # outside the filter
    body = {"filter": {"attr": "region", "op": "eq", "value": "Java"}, "add": ["java"],
            "remove": ["old"], "reason": "region sweep"}
    r = api.as_role("operator").post("/v1/tags/bulk", body)
    assert r.status_code == 200 and r.json == {"matched": 4, "updated": 3}
    for i in range(4):
        assert api.get(f"/v1/customers/c{i}").json["tags"] == ["java"]
    assert api.get("/v1/customers/c5").json["tags"] == ["old"]
    entries = [e for e in audit(api) if e["reason"] == "region sweep"]
    assert sorted((e["customer_id"], e["action"]) for e in entries) == [
        ("c1", "added"), ("c1", "removed"), ("c2", "added"), ("c3", "added")]
    # the same call again matches the same customers and changes nothing
    assert api.post("/v1/tags/bulk", body).json == {"matched": 4, "updated": 0}


@pytest.mark.parametrize("body,path", [
    ({"filter": {"attr": "shoe_size", "op": "eq", "value": 1}, "add": ["java"]}, "filter"),
    ({"filter": {"tags": {"any": ["ghost"]}}, "add": ["java"]}, "filter"),
    ({"filter": {"attr": "region", "op": "eq", "value": "Java"}, "add": ["ghost"]}, "add[0]"),
    ({"add": ["java"]}, "filter"),
])
def test_bulk_with_a_bad_filter_or_unknown_tag_is_400(api, body, path):
    make_tag(api, "java")
    r = api.post("/v1/tags/bulk", body)
    assert r.status_code == 400
    assert any(d["path"].startswith(path) for d in r.json["error"]["details"]), r.json


def test_bulk_needs_operator(api):
    assert api.as_role("viewer").post("/v1/tags/bulk", {}).status_code == 403


def test_delete_with_a_stale_if_match_is_412_and_keeps_the_tag(api):
    tag = make_tag(api, "vip")
    api.patch(f"/v1/tags/{tag['tag_id']}", {"color": "#000000"})
    assert api.delete(f"/v1/tags/{tag['tag_id']}", headers={"If-Match": "1"}).status_code == 412
    assert api.get(f"/v1/tags/{tag['tag_id']}").status_code == 200
    assert api.delete(f"/v1/tags/{tag['tag_id']}", headers={"If-Match": "2"}).status_code == 204


def test_a_tampered_cursor_is_400(api):
    from chalicelib.api.routing import encode_cursor

    for path in ("/v1/tags", "/v1/tags/audit", "/v1/tag-rules"):
        bad = encode_cursor({"after": 5, "before": 5, "o": "x"})
        assert api.get(f"{path}?cursor={bad}").status_code == 400, path


def test_a_patch_that_changes_nothing_writes_and_audits_nothing(api):
    tag = make_tag(api, "vip")
    r = api.patch(f"/v1/tags/{tag['tag_id']}", {"name": "vip", "dimension": "custom"})
    assert r.status_code == 200 and r.json["version"] == 1
    assert [e["action"] for e in audit(api)] == ["created"]
