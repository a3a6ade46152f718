"""GET/PUT /v1/settings: defaults, partial PUTs, validation, roles, If-Match."""

from __future__ import annotations

import pytest


def test_settings_default_until_set(api):
    r = api.get("/v1/settings")
    assert r.status_code == 200
    assert r.json == {"shop_name": api.seller_id, "timezone": "UTC", "default_locale": "en",
                      "default_region": None, "quiet_hours": None, "frequency_cap": None,
                      "attribution_window_days": 7, "currency": "USD", "send_rate_per_minute": None,
                      "version": 0}


def test_settings_put_leaves_out_fields_which_take_defaults(api):
    first = api.put("/v1/settings", {"shop_name": "Ploy Shop", "timezone": "Asia/Bangkok",
                                     "default_locale": "th", "attribution_window_days": 3,
                                     "quiet_hours": {"start": "22:00", "end": "08:00"}})
    assert first.status_code == 200 and first.json["version"] == 1
    assert first.headers["ETag"] == "1"
    second = api.put("/v1/settings", {"timezone": "Asia/Ho_Chi_Minh"})
    assert second.status_code == 200
    got = api.get("/v1/settings").json
    assert got["timezone"] == "Asia/Ho_Chi_Minh"
    assert got["shop_name"] == api.seller_id          # left out -> default, not the old value
    assert got["default_locale"] == "en" and got["quiet_hours"] is None
    assert got["attribution_window_days"] == 7 and got["version"] == 2


def test_settings_keep_region_upper_case_and_frequency_cap(api):
    r = api.put("/v1/settings", {"default_region": "th",
                                 "frequency_cap": {"max_messages": 2, "per_days": 7}})
    assert r.status_code == 200
    assert r.json["default_region"] == "TH"
    assert r.json["frequency_cap"] == {"max_messages": 2, "per_days": 7}


@pytest.mark.parametrize("body, path", [
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"timezone": "+07:00"}, "timezone"),
    ({"default_locale": "thai language"}, "default_locale"),
    ({"default_region": "XX"}, "default_region"),
    ({"quiet_hours": {"start": "24:00", "end": "08:00"}}, "quiet_hours.start"),
    ({"quiet_hours": {"start": "22:00", "end": "8am"}}, "quiet_hours.end"),
    ({"quiet_hours": {"start": "22:00", "end": "22:00"}}, "quiet_hours"),
    ({"frequency_cap": {"max_messages": 0, "per_days": 7}}, "frequency_cap.max_messages"),
    ({"frequency_cap": {"max_messages": 2}}, "frequency_cap.per_days"),
    ({"attribution_window_days": 0}, "attribution_window_days"),
    ({"shop_name": ""}, "shop_name"),
])
def test_settings_refuse_bad_values_naming_the_field(api, body, path):
    r = api.put("/v1/settings", body)
    assert r.status_code == 400
    assert r.json["error"]["code"] == "validation_error"
    assert path in [d["path"] for d in r.json["error"]["details"]]


def test_settings_put_is_for_owner_and_admin(api):
    assert api.as_role("operator").put("/v1/settings", {"timezone": "UTC"}).status_code == 403
    assert api.as_role("viewer").put("/v1/settings", {"bad": 1}).status_code == 403
    assert api.as_role("admin").put("/v1/settings", {"timezone": "UTC"}).status_code == 200
    assert api.as_role("viewer").get("/v1/settings").status_code == 200


def test_settings_stale_if_match_is_refused(api):
    api.put("/v1/settings", {"timezone": "Asia/Jakarta"})
    ok = api.put("/v1/settings", {"timezone": "Asia/Bangkok"}, headers={"If-Match": "1"})
    assert ok.status_code == 200 and ok.json["version"] == 2
    stale = api.put("/v1/settings", {"timezone": "UTC"}, headers={"If-Match": "1"})
    assert stale.status_code == 412
    assert api.get("/v1/settings").json["timezone"] == "Asia/Bangkok"


def test_settings_of_one_seller_are_invisible_to_another(api):
    api.put("/v1/settings", {"shop_name": "Mine"})
    other = api.as_seller(api.seller_id + "-x").get("/v1/settings").json
    assert other["shop_name"] == api.seller_id + "-x" and other["version"] == 0
