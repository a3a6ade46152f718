"""The segment interface other areas build on (tags bulk and rules, plan audiences), and the
built-in boundaries as GET /v1/customers/{id} shows them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.errors import Invalid, NotFound
from tests.integration.test_segments import add_customers, at, create, paid

ADULT = {"attr": "age", "op": "gte", "value": 18}


@pytest.fixture
def api(audience_api):
    """Every test here runs over both audience sources (conftest ``audience_api``)."""
    return audience_api


def now() -> datetime:
    return datetime.now(UTC)


def test_validate_rule_normalises_warns_and_names_paths_under_the_prefix(api):
    from chalicelib import audiences

    rule, warnings = audiences.validate_rule(api.seller_id, {"attr": "total_paid", "op": "gte",
                                                            "value": 10})
    assert rule == {"attr": "total_paid", "op": "gte", "value": "10"} and len(warnings) == 1
    with pytest.raises(Invalid) as bad:
        audiences.validate_rule(api.seller_id, {"all": [ADULT, {"segment": "nope"},
                                                       {"tags": {"any": ["zz"]}}]}, path="filter")
    assert [d["path"] for d in bad.value.details] == ["filter.all[1].segment",
                                                       "filter.all[2].tags.any[0]"]
    assert "zz" in bad.value.message


def test_compile_rule_and_matching_ids_read_every_shard(api):
    from chalicelib import audiences
    from chalicelib.store import customers as repo
    from chalicelib.store.base import shard_of

    ids = [f"x{i:03d}" for i in range(60)]
    add_customers(api, {cid: {"age": i % 40} for i, cid in enumerate(ids)})
    assert len({shard_of(c) for c in ids}) > 1
    wanted = sorted(cid for i, cid in enumerate(ids) if i % 40 >= 18)
    assert sorted(audiences.matching_ids(api.seller_id, ADULT, now())) == wanted
    keep = audiences.compile_rule(api.seller_id, ADULT, now())
    assert keep(repo.get(api.seller_id, "x020")) and not keep(repo.get(api.seller_id, "x010"))
    with pytest.raises(Invalid):
        audiences.compile_rule(api.seller_id, {"attr": "age"}, now())


def test_segment_members_is_the_union_without_duplicates(api):
    from chalicelib import audiences

    add_customers(api, {"a": {"age": 20}, "b": {"age": 70}, "c": {}},
                  [{"event_id": "fa", "type": "followed", "customer_id": "a", "occurred_at": at(1)},
                   {"event_id": "fc", "type": "followed", "customer_id": "c", "occurred_at": at(1)}])
    old = create(api, {"attr": "age", "op": "gte", "value": 60})["segment_id"]
    young = create(api, {"attr": "age", "op": "lte", "value": 30})["segment_id"]
    assert audiences.segment_members(api.seller_id, ["new_followers", young, old], now()) == \
        {"a", "b", "c"}
    assert audiences.segment_members(api.seller_id, [young, young], now()) == {"a"}
    assert audiences.segment_members(api.seller_id, [], now()) == set()
    with pytest.raises(NotFound):
        audiences.segment_members(api.seller_id, ["loyal", "ghost"], now())
    assert audiences.segment_exists(api.seller_id, young)
    assert audiences.segment_exists(api.seller_id, "lapsed")
    assert not audiences.segment_exists(api.seller_id, "ghost")
    assert not audiences.segment_exists("another-seller", young)


def test_customers_can_be_listed_by_tag_name(api):
    from chalicelib.domain.tags import norm_name
    from chalicelib.store import customers as repo
    from chalicelib.store.tags import TagItem

    add_customers(api, {"k1": {}, "k2": {}})
    TagItem(seller_id=api.seller_id, tag_id="tg1", name="Paid", norm=norm_name("Paid"),
            dimension="custom", color="#6B7280").save()
    item = repo.get(api.seller_id, "k2")
    item.tags = {"tg1"}
    repo.save(item)
    assert [c["customer_id"] for c in api.get("/v1/customers?tag=paid").json["items"]] == ["k2"]
    assert api.get("/v1/customers?tag=unknown").json["items"] == []


def test_a_rule_can_reuse_a_custom_segment_that_reuses_a_builtin(api):
    add_customers(api, {"r1": {"age": 33}, "r2": {"age": 33}},
                  [paid("r1", 3), paid("r1", 50), paid("r2", 3)])
    inner = create(api, {"all": [ADULT, {"segment": "repeat"}]})["segment_id"]
    outer = create(api, {"not": {"segment": inner}})["segment_id"]
    assert api.get(f"/v1/segments/{inner}/members").json["items"] == [{"customer_id": "r1"}]
    assert api.get(f"/v1/segments/{outer}/members").json["items"] == [{"customer_id": "r2"}]
    why = api.get(f"/v1/segments/{outer}/explain/r2").json
    paths = [c["path"] for c in why["conditions"]]
    assert why["member"] is True and "not.segment.all[1].segment" in paths


@pytest.mark.parametrize("days, inside", [(29.9, True), (30.1, False)])
def test_customer_view_recent_at_the_30_day_boundary(api, days, inside):
    add_customers(api, {"b1": {}}, [paid("b1", days)])
    assert ("recent" in api.get("/v1/customers/b1").json["segments"]) is inside


@pytest.mark.parametrize("days, inside", [(89.9, True), (90.1, False)])
def test_customer_view_loyal_at_the_90_day_boundary(api, days, inside):
    add_customers(api, {"b1": {}}, [paid("b1", 1), paid("b1", days)])
    assert ("loyal" in api.get("/v1/customers/b1").json["segments"]) is inside


@pytest.mark.parametrize("days, inside", [(364.9, True), (90.1, True), (89.9, False)])
def test_customer_view_lapsed_is_an_order_in_365_days_and_none_in_90(api, days, inside):
    add_customers(api, {"b1": {}}, [paid("b1", days)])
    assert ("lapsed" in api.get("/v1/customers/b1").json["segments"]) is inside


def test_customer_view_refund_and_unfollow(api):
    add_customers(api, {"b1": {}}, [
        paid("b1", 3), {"event_id": "rf", "type": "order_refunded", "customer_id": "b1",
                        "occurred_at": at(1), "order_id": "b1-3-0"},
        {"event_id": "f1", "type": "followed", "customer_id": "b1", "occurred_at": at(5)},
        {"event_id": "u1", "type": "unfollowed", "customer_id": "b1", "occurred_at": at(2)},
        {"event_id": "c1", "type": "cart_added", "customer_id": "b1", "occurred_at": at(2),
         "product_id": "p1"}])
    assert api.get("/v1/customers/b1").json["segments"] == ["potential_new"]


def test_late_events_change_membership_the_same_whatever_the_arrival_order(api):
    add_customers(api, {"b1": {}}, [paid("b1", 2)])
    assert "recent" in api.get("/v1/customers/b1").json["segments"]
    add_customers(api, {}, [paid("b1", 200)])
    got = api.get("/v1/customers/b1").json["segments"]
    assert "recent" not in got and "repeat" in got


def test_request_now_is_not_frozen(api):
    # Built-ins are compiled per "now" and cached: a later now must not reuse an old result.
    from chalicelib.domain import builtins
    from chalicelib.domain.aggregates import to_ms
    from chalicelib.domain.profile import Profile
    from tests.unit.segment_profiles import agg_of, event

    agg = agg_of(event("followed", 29))
    base = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    assert "new_followers" in builtins.memberships_of(Profile("x", agg=agg), to_ms(base))
    later = base + timedelta(days=2)
    assert "new_followers" not in builtins.memberships_of(Profile("x", agg=agg), to_ms(later))


def test_ensure_creates_a_fixed_segment_once(api):
    from chalicelib.services import segments

    rule = {"all": [ADULT, {"segment": "loyal"}, {"attr": "gender", "op": "eq", "value": "male"}]}
    assert segments.ensure(api.seller_id, "seg_fixed", "Fixed", rule, now()) is True
    assert segments.ensure(api.seller_id, "seg_fixed", "Other", ADULT, now()) is False
    got = api.get("/v1/segments/seg_fixed").json
    assert (got["name"], got["rule"], got["version"]) == ("Fixed", rule, 1)


def test_concurrent_writers_one_wins_the_other_gets_a_conflict(api):
    from chalicelib.store import segments as store

    sid = create(api, ADULT)["segment_id"]
    first, second = store.get(api.seller_id, sid), store.get(api.seller_id, sid)
    first.name = "first"
    store.save(first)
    second.name = "second"
    with pytest.raises(store.VersionConflict):
        store.save(second)
    with pytest.raises(store.VersionConflict):
        store.delete(second)
    got = api.get(f"/v1/segments/{sid}").json
    assert (got["name"], got["version"]) == ("first", 2)
