"""When a one-off plan goes out: send_at in any offset stored in UTC, past sends refused,
quiet hours deferring to the end of the window in the shop's time zone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from chalicelib.domain.errors import Invalid
from chalicelib.domain.plans import send_timing, to_utc
from chalicelib.domain.shop_settings import QuietHours

NOW = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)            # 10:00 in Bangkok
NIGHT = QuietHours(start="22:00", end="08:00")


def test_send_at_with_any_offset_is_stored_in_utc():
    assert to_utc(datetime.fromisoformat("2026-11-23T20:00:00+07:00"), "UTC") == \
        datetime(2026, 11, 23, 13, 0, tzinfo=UTC)
    assert to_utc(datetime.fromisoformat("2026-11-23T08:00:00-05:00"), "Asia/Bangkok") == \
        datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


def test_send_at_without_offset_is_read_in_the_shops_time_zone():
    assert to_utc(datetime(2026, 11, 23, 20, 0), "Asia/Bangkok") == \
        datetime(2026, 11, 23, 13, 0, tzinfo=UTC)


@pytest.mark.parametrize("send_at, status, expected", [
    (None, "in_progress", None),
    (NOW + timedelta(hours=2), "scheduled", NOW + timedelta(hours=2)),
    (NOW + timedelta(seconds=1), "scheduled", NOW + timedelta(seconds=1)),
    (NOW, "in_progress", None),
    (NOW - timedelta(seconds=59), "in_progress", None),      # clock skew: taken as now
])
def test_send_now_or_later(send_at, status, expected):
    assert send_timing(send_at, NOW, "UTC", None) == (status, expected, [])


@pytest.mark.parametrize("send_at", [NOW - timedelta(seconds=61), NOW - timedelta(days=3)])
def test_send_at_in_the_past_is_refused(send_at):
    with pytest.raises(Invalid) as caught:
        send_timing(send_at, NOW, "UTC", None)
    assert caught.value.details[0]["path"] == "send_at"


def test_send_at_more_than_a_year_ahead_is_refused():
    with pytest.raises(Invalid):
        send_timing(NOW + timedelta(days=367), NOW, "UTC", None)


@pytest.mark.parametrize("local_send, deferred_local", [
    ("2026-11-23T21:59:00", None),                              # just before the window
    ("2026-11-23T22:00:00", "2026-11-24T08:00:00"),             # window start is inside
    ("2026-11-23T23:30:00", "2026-11-24T08:00:00"),             # before midnight -> next day
    ("2026-11-24T02:00:00", "2026-11-24T08:00:00"),             # after midnight -> same day
    ("2026-11-24T07:59:00", "2026-11-24T08:00:00"),
    ("2026-11-24T08:00:00", None),                              # window end is outside
])
def test_quiet_hours_spanning_midnight_defer_to_the_end_of_the_window(local_send, deferred_local):
    zone = "Asia/Bangkok"
    send_at = datetime.fromisoformat(local_send + "+07:00")
    status, when, warnings = send_timing(send_at, NOW, zone, NIGHT)
    assert status == "scheduled"
    if deferred_local is None:
        assert when == send_at and warnings == []
    else:
        assert when == datetime.fromisoformat(deferred_local + "+07:00")
        assert when.tzinfo == UTC
        assert len(warnings) == 1 and warnings[0].startswith("quiet_hours")


def test_send_now_inside_quiet_hours_is_scheduled_not_dropped():
    night = datetime(2026, 11, 23, 16, 0, tzinfo=UTC)          # 23:00 in Bangkok
    status, when, warnings = send_timing(None, night, "Asia/Bangkok", NIGHT)
    assert status == "scheduled"
    assert when == datetime(2026, 11, 24, 1, 0, tzinfo=UTC)     # 08:00 Bangkok
    assert warnings


@pytest.mark.parametrize("local, inside", [("12:59", False), ("13:00", True), ("13:59", True),
                                           ("14:00", False)])
def test_quiet_hours_within_one_day(local, inside):
    lunch = QuietHours(start="13:00", end="14:00")
    send_at = datetime.fromisoformat(f"2026-11-24T{local}:00+00:00")
    _, when, warnings = send_timing(send_at, NOW, "UTC", lunch)
    assert when == (datetime(2026, 11, 24, 14, 0, tzinfo=UTC) if inside else send_at)
    assert bool(warnings) is inside


def test_quiet_hours_end_follows_daylight_saving_time():
    # New York moves from EDT (-4) to EST (-5) on 2026-11-01 at 02:00.
    send_at = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)           # 23:00 EDT on Oct 31
    now = send_at - timedelta(hours=1)
    _, when, _ = send_timing(send_at, now, "America/New_York", NIGHT)
    assert when == datetime(2026, 11, 1, 13, 0, tzinfo=UTC)     # 08:00 EST
