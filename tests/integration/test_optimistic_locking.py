"""Optimistic locking under a writer that never lets up: every versioned read-modify-write
goes through one retry helper, which ends in 409 ``conflict`` (or 412 with a stale If-Match),
never a 500, after a fixed number of attempts. The rival is real: before each of our writes
it writes the same item in moto, so our version is always one behind."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.store.versioning import ATTEMPTS


class Rival:
    """Wraps a store's save function: before each call, a concurrent writer saves a fresh
    copy of the same item (bumping its version), so the caller's write is always stale."""

    def __init__(self) -> None:
        self.writes = 0
        self.armed = True

    def wrap(self, monkeypatch, module, name: str) -> None:
        real = getattr(module, name)

        def save(item, *args, **kwargs):
            if self.armed:
                cls = type(item)
                keys = [getattr(item, cls._hash_keyname)]
                if cls._range_keyname:
                    keys.append(getattr(item, cls._range_keyname))
                cls.get(*keys, consistent_read=True).save()   # the other writer wins
                self.writes += 1
            return real(item, *args, **kwargs)

        monkeypatch.setattr(module, name, save)


@pytest.fixture
def rival():
    return Rival()


def _iso(delta: timedelta = timedelta()) -> str:
    return (datetime.now(UTC) + delta).isoformat()


def _customer(api):
    assert api.put("/v1/customers/c1", {"name": "Ploy"}).status_code in (200, 201)
    return "customers", "save", lambda: api.put("/v1/customers/c1", {"name": "Fon"})


def _customer_if_match(api):
    version = api.put("/v1/customers/c1", {"name": "Ploy"}).json["version"]
    return "customers", "save", lambda: api.put("/v1/customers/c1", {"name": "Fon"},
                                                headers={"If-Match": str(version)})


SETTINGS = {"shop_name": "Rice shop", "timezone": "Asia/Bangkok"}


def _settings(api):
    assert api.put("/v1/settings", SETTINGS).status_code == 200
    return "shop_settings", "save", lambda: api.put("/v1/settings", {**SETTINGS, "shop_name": "B"})


def _settings_if_match(api):
    version = api.put("/v1/settings", SETTINGS).json["version"]
    return "shop_settings", "save", lambda: api.put("/v1/settings", {**SETTINGS, "shop_name": "B"},
                                                    headers={"If-Match": str(version)})


def _tag_assignment(api):
    assert api.post("/v1/tags", {"name": "VIP", "dimension": "spending_power"}).status_code == 201
    api.put("/v1/customers/c1", {"name": "Ploy"})
    return "customers", "save", lambda: api.post("/v1/customers/c1/tags", {"add": ["VIP"]})


def _event_ingestion(api):
    api.put("/v1/customers/c1", {"name": "Ploy"})
    event = {"event_id": "e1", "type": "followed", "customer_id": "c1",
             "occurred_at": _iso(timedelta(minutes=-1))}
    return "customers", "save", lambda: api.post("/v1/events", {"events": [event]})


def _plan_draft(api):
    r = api.post("/v1/plans", {"name": "Hello", "audience": {"segment_ids": ["new_followers"]},
                               "content": {"text": {"en": "Hi {name}"}}})
    assert r.status_code == 201, r.json
    return r.json["plan_id"]


def _plan_patch(api):
    plan_id = _plan_draft(api)
    return "plans", "save", lambda: api.patch(f"/v1/plans/{plan_id}", {"name": "Renamed"})


def _plan_patch_if_match(api):
    plan_id = _plan_draft(api)
    return "plans", "save", lambda: api.patch(f"/v1/plans/{plan_id}", {"name": "Renamed"},
                                              headers={"If-Match": "1"})


def _product_put(api):
    body = {"name": "Rice", "price": "10.00", "currency": "THB"}
    api.put("/v1/products/p1", body)
    return "products", "save_product", lambda: api.put("/v1/products/p1", {**body, "name": "Jasmine"})


def _segment_patch(api):
    r = api.post("/v1/segments", {"name": "Adults",
                                  "rule": {"attr": "age", "op": "gte", "value": 18}})
    assert r.status_code == 201, r.json
    sid = r.json["segment_id"]
    return "segments", "save", lambda: api.patch(f"/v1/segments/{sid}", {"name": "Grown-ups"})


@pytest.mark.parametrize("setup", [_customer, _settings, _tag_assignment, _event_ingestion,
                                   _plan_patch, _product_put, _segment_patch],
                         ids=["customer PUT", "settings PUT", "tag assignment", "event ingestion",
                              "plan PATCH", "product PUT", "segment PATCH"])
def test_a_write_that_keeps_losing_to_a_concurrent_writer_is_409_not_500(api, rival, monkeypatch,
                                                                          setup):
    import importlib

    store_name, save_name, request = setup(api)
    rival.wrap(monkeypatch, importlib.import_module(f"chalicelib.store.{store_name}"), save_name)
    r = request()
    assert r.status_code == 409, r.json
    assert r.json["error"]["code"] == "conflict" and set(r.json["error"]) == {"code", "message",
                                                                              "details"}
    from chalicelib.services.events import INGEST_ATTEMPTS

    # a fixed number of attempts, each re-read and lost (ingestion, the hottest writer, more)
    assert rival.writes == (INGEST_ATTEMPTS if setup is _event_ingestion else ATTEMPTS)
    rival.armed = False
    assert request().status_code in (200, 201, 202)   # once the rival stops, the write lands


@pytest.mark.parametrize("setup", [_customer_if_match, _settings_if_match, _plan_patch_if_match],
                         ids=["customer PUT", "settings PUT", "plan PATCH"])
def test_a_write_with_if_match_that_loses_once_is_412_without_retrying(api, rival, monkeypatch,
                                                                        setup):
    import importlib

    store_name, save_name, request = setup(api)
    rival.wrap(monkeypatch, importlib.import_module(f"chalicelib.store.{store_name}"), save_name)
    r = request()
    assert r.status_code == 412, r.json
    assert r.json["error"]["code"] == "precondition_failed"
    assert rival.writes == 1               # its version is stale now: re-applying would be a lost update


def test_plan_counters_that_keep_losing_raise_a_conflict_not_a_runtime_error(api, monkeypatch):
    """The metrics aggregator's conditional ADD: a rival bumping the part's version every
    time ends in the domain's 409 error (the SQS record is then retried), not RuntimeError."""
    from chalicelib.domain.errors import KeptChanging
    from chalicelib.store import plan_stats
    from chalicelib.store.aws import client

    seller, plan_id, part = api.seller_id, "pl_rival", plan_stats.chunk_part(0)
    assert plan_stats.apply_facts(seller, plan_id, part, {"k0": {"read": 1}}) == 1
    real_get_part, rivals = plan_stats.get_part, []

    def get_part(*args):
        got = real_get_part(*args)
        client("dynamodb").update_item(   # another aggregator folds its batch in meanwhile
            TableName=plan_stats._table(), Key=plan_stats._key(seller, plan_id, part),
            UpdateExpression="ADD v :one", ExpressionAttributeValues={":one": {"N": "1"}})
        rivals.append(1)
        return got

    monkeypatch.setattr(plan_stats, "get_part", get_part)
    with pytest.raises(KeptChanging):
        plan_stats.apply_facts(seller, plan_id, part, {"k1": {"read": 1}})
    assert len(rivals) == ATTEMPTS
    monkeypatch.setattr(plan_stats, "get_part", real_get_part)
    assert plan_stats.get_part(seller, plan_id, part)["read"] == 1   # nothing half-applied
