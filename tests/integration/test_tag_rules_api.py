"""Tag rules: the four examples of SPEC.md §3, audit as the rule, idempotent reactions
(duplicate delivery, crash mid-batch) and the daily job (moto in-process)."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.integration.conftest import drain

TAGS = ("high_value", "purchased", "abandoned_cart", "churn_risk", "engaged", "loyal_fan",
        "new_customer")


@pytest.fixture
def shop(api, app):
    for name in TAGS:
        assert api.post("/v1/tags", {"name": name, "dimension": "purchase_stage"}
                        ).status_code == 201
    return api


def ago(days: float) -> str:
    return (datetime.now(UTC) - timedelta(days=days)).isoformat().replace("+00:00", "Z")


def order(cid: str, n: int, days: float = 1) -> dict:
    return {"event_id": f"{cid}-o{n}", "type": "order_paid", "customer_id": cid,
            "occurred_at": ago(days), "order_id": f"{cid}-o{n}", "amount": "10.00",
            "currency": "THB"}


def rule(api, body) -> dict:
    r = api.post("/v1/tag-rules", body)
    assert r.status_code == 201, r.json
    return r.json


def post_events(api, events):
    r = api.post("/v1/events", {"events": events})
    assert r.status_code == 202 and not r.json["rejected"], r.json


def tags_of(api, cid):
    return api.get(f"/v1/customers/{cid}").json["tags"]


def rule_audit(api, rule_id):
    items = api.get("/v1/tags/audit?limit=200").json["items"]
    return [(e["customer_id"], e["action"], e["tag"]) for e in items
            if e["actor"] == f"rule:{rule_id}"]


HIGH_VALUE = {"name": "3+ orders", "trigger": {"event": "order_paid"},
              "condition": {"attr": "order_count", "op": "gte", "value": 3}, "add": ["high_value"]}
PURCHASED = {"name": "bought", "trigger": {"event": "order_paid"}, "add": ["purchased"],
             "remove": ["abandoned_cart"]}
CHURN = {"name": "churn", "trigger": {"daily": True},
         "condition": {"event": "message_read", "within_days": 60, "count": {"lte": 0}},
         "add": ["churn_risk"], "remove": ["engaged", "loyal_fan"]}
NEW_CUSTOMER = {"name": "new customer expiry", "trigger": {"daily": True},
                "condition": {"attr": "first_order_at", "op": "lte", "value": {"days_ago": 60}},
                "remove": ["new_customer"]}


def test_three_paid_orders_add_high_value(shop, app):
    made = rule(shop, HIGH_VALUE)
    assert made["rule_id"] and made["add"] == ["high_value"] and made["trigger"] == {
        "event": "order_paid"}
    post_events(shop, [order("c1", 1), order("c1", 2), order("c2", 1)])
    drain(app, "events")
    assert tags_of(shop, "c1") == [] and tags_of(shop, "c2") == []
    post_events(shop, [order("c1", 3)])
    drain(app, "events")
    assert tags_of(shop, "c1") == ["high_value"] and tags_of(shop, "c2") == []
    assert rule_audit(shop, made["rule_id"]) == [("c1", "added", "high_value")]


def test_a_paid_order_removes_abandoned_cart_and_adds_purchased(shop, app):
    made = rule(shop, PURCHASED)
    shop.put("/v1/customers/c1", {"name": "A"})
    shop.post("/v1/customers/c1/tags", {"add": ["abandoned_cart"]})
    post_events(shop, [{"event_id": "v1", "type": "product_viewed", "customer_id": "c1",
                        "occurred_at": ago(0), "product_id": "p1"}])
    drain(app, "events")
    assert tags_of(shop, "c1") == ["abandoned_cart"]      # another event type: no change
    post_events(shop, [order("c1", 1)])
    drain(app, "events")
    assert tags_of(shop, "c1") == ["purchased"]
    assert sorted(rule_audit(shop, made["rule_id"])) == [("c1", "added", "purchased"),
                                                         ("c1", "removed", "abandoned_cart")]


def test_no_message_read_for_60_days_adds_churn_risk_and_removes_engagement_tags(shop):
    made = rule(shop, CHURN)
    post_events(shop, [
        {"event_id": "r1", "type": "message_read", "customer_id": "quiet", "plan_id": "p",
         "occurred_at": ago(70)},
        {"event_id": "r2", "type": "message_read", "customer_id": "reader", "plan_id": "p",
         "occurred_at": ago(5)}])
    for cid in ("quiet", "reader"):
        shop.post(f"/v1/customers/{cid}/tags", {"add": ["engaged", "loyal_fan", "vip"][:2]})
    r = shop.post("/v1/tag-rules/run")
    assert r.status_code == 200 and r.json["rules"] == 1 and r.json["updated"] == 1
    assert tags_of(shop, "quiet") == ["churn_risk"]
    assert tags_of(shop, "reader") == ["engaged", "loyal_fan"]
    assert sorted(rule_audit(shop, made["rule_id"])) == [
        ("quiet", "added", "churn_risk"), ("quiet", "removed", "engaged"),
        ("quiet", "removed", "loyal_fan")]
    # running again the same day changes and audits nothing more
    assert shop.post("/v1/tag-rules/run").json["updated"] == 0
    assert len(rule_audit(shop, made["rule_id"])) == 3


@pytest.mark.parametrize("first_order_days_ago,keeps", [(70, False), (61, False), (59, True),
                                                        (10, True)])
def test_new_customer_is_removed_60_days_after_the_first_order(shop, first_order_days_ago, keeps):
    rule(shop, NEW_CUSTOMER)
    post_events(shop, [order("c1", 1, first_order_days_ago), order("c1", 2, 1)])
    shop.post("/v1/customers/c1/tags", {"add": ["new_customer"]})
    shop.post("/v1/tag-rules/run")
    assert tags_of(shop, "c1") == (["new_customer"] if keeps else [])


def test_the_scheduled_job_runs_the_daily_rules_of_every_seller(shop, app, client):
    rule(shop, NEW_CUSTOMER)
    post_events(shop, [order("c1", 1, 90)])
    shop.post("/v1/customers/c1/tags", {"add": ["new_customer"]})
    event = client.events.generate_cw_event(source="aws.events", detail_type="Scheduled Event",
                                            detail={}, resources=[])
    result = client.lambda_.invoke("daily_tag_rules", event).payload
    # The schedule queues one message per seller; the daily queue's handler runs them.
    assert result["queued"] >= 1
    drain(app, "daily")
    assert tags_of(shop, "c1") == []


def test_only_sellers_with_daily_rules_are_indexed(shop):
    from chalicelib.store import tag_rules as store

    rule(shop, HIGH_VALUE)
    assert shop.seller_id not in store.sellers_with_daily_rules()
    rule(shop, CHURN)
    assert shop.seller_id in store.sellers_with_daily_rules()


def test_running_daily_rules_needs_the_owner(shop):
    assert shop.as_role("admin").post("/v1/tag-rules/run").status_code == 403


def test_a_redelivered_message_changes_and_audits_once(shop, app):
    from chalicelib.services import reactions

    made = rule(shop, PURCHASED)
    post_events(shop, [order("c1", 1)])
    reactions.publish(shop.seller_id, [order("c1", 1)])       # the same message again
    reactions.publish(shop.seller_id, [order("c1", 1)])
    drain(app, "events")
    assert tags_of(shop, "c1") == ["purchased"]
    assert rule_audit(shop, made["rule_id"]) == [("c1", "added", "purchased")]


def test_a_crash_mid_batch_retries_only_the_failed_record(shop, app, monkeypatch):
    from chalicelib.services import reactions
    from chalicelib.store import customers as repo

    made = rule(shop, PURCHASED)
    post_events(shop, [order("c1", 1), order("c2", 1)])   # two messages below, one per customer
    drain(app, "events")
    shop.post("/v1/customers/c1/tags", {"remove": ["purchased"]})
    shop.post("/v1/customers/c2/tags", {"remove": ["purchased"]})
    real_save, crashed = repo.save, []

    def crash_once_on_c2(item):
        if item.customer_id == "c2" and not crashed:
            crashed.append(item.customer_id)
            raise ConnectionError("lost the connection mid-write")
        return real_save(item)

    monkeypatch.setattr(repo, "save", crash_once_on_c2)
    reactions.publish(shop.seller_id, [order("c1", 1)])
    reactions.publish(shop.seller_id, [order("c2", 1)])
    drain(app, "events")
    time.sleep(1.2)            # the failed record becomes visible again
    drain(app, "events")
    assert crashed == ["c2"]
    assert tags_of(shop, "c1") == ["purchased"] and tags_of(shop, "c2") == ["purchased"]
    entries = rule_audit(shop, made["rule_id"])
    assert sorted(entries) == [("c1", "added", "purchased")] * 2 + [("c2", "added", "purchased")] * 2


@pytest.mark.parametrize("body,path", [
    ({"name": "x", "trigger": {"event": "order_paid"}, "add": ["ghost"]}, "add[0]"),
    ({"name": "x", "trigger": {"event": "order_paid"}, "remove": ["nope"]}, "remove[0]"),
    ({"name": "x", "trigger": {"event": "order_paid"}, "add": ["purchased"],
      "condition": {"attr": "nope", "op": "eq", "value": 1}}, "condition"),
    ({"name": "x", "trigger": {"event": "teleported"}, "add": ["purchased"]}, "trigger"),
    ({"name": "x", "trigger": {"daily": False}, "add": ["purchased"]}, "trigger"),
    ({"name": "x", "trigger": {"event": "order_paid"}}, ""),
    ({"trigger": {"event": "order_paid"}, "add": ["purchased"]}, "name"),
])
def test_bad_rules_are_400_naming_the_problem(shop, body, path):
    r = shop.post("/v1/tag-rules", body)
    assert r.status_code == 400
    assert any(d["path"].startswith(path) for d in r.json["error"]["details"]), r.json


def test_rules_are_listed_read_and_deleted(shop):
    one, two = rule(shop, HIGH_VALUE), rule(shop, CHURN)
    items = shop.as_role("viewer").get("/v1/tag-rules").json["items"]
    assert [i["rule_id"] for i in items] == [one["rule_id"], two["rule_id"]]
    page = shop.get("/v1/tag-rules?limit=1").json
    assert len(page["items"]) == 1 and page["next_cursor"]
    assert shop.get(f"/v1/tag-rules/{two['rule_id']}").json["remove"] == ["engaged", "loyal_fan"]
    assert shop.as_role("operator").delete(f"/v1/tag-rules/{one['rule_id']}").status_code == 403
    assert shop.as_seller("other").delete(f"/v1/tag-rules/{one['rule_id']}").status_code == 404
    assert shop.delete(f"/v1/tag-rules/{one['rule_id']}").status_code == 204
    assert shop.get(f"/v1/tag-rules/{one['rule_id']}").status_code == 404
    assert [i["rule_id"] for i in shop.get("/v1/tag-rules").json["items"]] == [two["rule_id"]]


def test_a_rule_survives_a_rename_and_skips_a_deleted_tag(shop, app):
    made = rule(shop, PURCHASED)
    tags = {t["name"]: t["tag_id"] for t in shop.get("/v1/tags?limit=200").json["items"]}
    shop.patch(f"/v1/tags/{tags['purchased']}", {"name": "bought"})
    shop.delete(f"/v1/tags/{tags['abandoned_cart']}")
    assert shop.get(f"/v1/tag-rules/{made['rule_id']}").json["add"] == ["bought"]
    post_events(shop, [order("c1", 1)])
    drain(app, "events")
    assert tags_of(shop, "c1") == ["bought"]


def test_only_owner_and_admin_create_rules(shop):
    assert shop.as_role("operator").post("/v1/tag-rules", PURCHASED).status_code == 403
    assert shop.as_role("admin").post("/v1/tag-rules", PURCHASED).status_code == 201


def test_a_condition_on_tags_survives_a_rename(shop, app):
    made = rule(shop, {"name": "first purchase", "trigger": {"event": "order_paid"},
                       "condition": {"tags": {"none": ["purchased"]}}, "add": ["new_customer"]})
    tags = {t["name"]: t["tag_id"] for t in shop.get("/v1/tags?limit=200").json["items"]}
    shop.patch(f"/v1/tags/{tags['purchased']}", {"name": "bought"})
    assert shop.get(f"/v1/tag-rules/{made['rule_id']}").json["condition"] == {
        "tags": {"none": ["bought"]}}
    shop.put("/v1/customers/c1", {"name": "A"})
    shop.put("/v1/customers/c2", {"name": "B"})
    shop.post("/v1/customers/c2/tags", {"add": ["bought"]})
    post_events(shop, [order("c1", 1), order("c2", 1)])
    drain(app, "events")
    assert tags_of(shop, "c1") == ["new_customer"]
    assert tags_of(shop, "c2") == ["bought"]
