"""Shop settings: defaults, validation, and the quiet-hours window math."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from pydantic import ValidationError

from chalicelib.domain.shop_settings import QuietHours, SettingsPut, defaults, from_put, quiet_until


def test_defaults_name_the_shop_after_the_seller():
    assert defaults("s1").model_dump() == {
        "shop_name": "s1", "timezone": "UTC", "default_locale": "en", "default_region": None,
        "quiet_hours": None, "frequency_cap": None, "attribution_window_days": 7, "currency": "USD",
        "send_rate_per_minute": None, "version": 0}


def test_a_put_leaving_fields_out_gives_their_defaults():
    got = from_put("s1", SettingsPut(timezone="Asia/Bangkok"), version=3)
    assert got.shop_name == "s1" and got.timezone == "Asia/Bangkok" and got.version == 3
    assert got.default_locale == "en" and got.attribution_window_days == 7


@pytest.mark.parametrize("body", [
    {"timezone": "Asia/Atlantis"}, {"timezone": ""}, {"default_locale": "1x"},
    {"default_region": "ZZ"}, {"quiet_hours": {"start": "7:00", "end": "08:00"}},
    {"quiet_hours": {"start": "10:00"}}, {"frequency_cap": {"max_messages": 1, "per_days": 0}},
    {"attribution_window_days": 91},
])
def test_bad_settings_are_refused(body):
    with pytest.raises(ValidationError):
        SettingsPut.model_validate(body)


@pytest.mark.parametrize("utc, expected", [
    ("2026-03-10T14:59:00", None),                  # 21:59 Jakarta
    ("2026-03-10T15:00:00", "2026-03-11T01:00:00"),  # 22:00 -> 08:00 next day
    ("2026-03-10T20:00:00", "2026-03-11T01:00:00"),  # 03:00 -> 08:00 same local day
    ("2026-03-11T01:00:00", None),                  # 08:00 is outside
])
def test_quiet_until_is_the_end_of_the_window_in_utc(utc, expected):
    quiet = QuietHours(start="22:00", end="08:00")
    got = quiet_until(datetime.fromisoformat(utc + "+00:00"), quiet, "Asia/Jakarta")
    assert got == (datetime.fromisoformat(expected + "+00:00") if expected else None)
    if got is not None:
        assert got.tzinfo is UTC


def test_no_quiet_hours_means_never_quiet():
    assert quiet_until(datetime(2026, 1, 1, 3, tzinfo=UTC), None, "UTC") is None
