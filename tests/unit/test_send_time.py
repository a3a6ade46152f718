"""Send-time optimisation (API.md): the start of the next local hour within 24 h whose hour
of day had the most reads over the last 30 days in the shop's zone; ties soonest; no reads
-> 20:00."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain import aggregates
from chalicelib.domain.send_time import best_time, candidates


def at(zone: str, *parts: int) -> datetime:
    return datetime(*parts, tzinfo=ZoneInfo(zone)).astimezone(UTC)


def reads(zone: str, now: datetime, hours: dict[int, int], days_ago: int = 3) -> list[int]:
    """``n`` reads at each local hour, ``days_ago`` days before now."""
    day = (now - timedelta(days=days_ago)).astimezone(ZoneInfo(zone)).date()
    return [aggregates.to_ms(at(zone, day.year, day.month, day.day, h, 15 + i % 40))
            for h, n in hours.items() for i in range(n)]


@pytest.mark.parametrize("zone, now_local, hours, expected_local", [
    # the peak hour, later today
    ("Asia/Bangkok", (2026, 11, 22, 10, 5), {21: 5, 9: 3, 12: 4}, (2026, 11, 22, 21, 0)),
    # the peak hour has passed today: tomorrow at that hour
    ("Asia/Bangkok", (2026, 11, 22, 22, 0), {21: 5, 9: 3}, (2026, 11, 23, 21, 0)),
    # "next hour": at 09:00:00 sharp, 09:00 is not next; tomorrow's 09:00 is (within 24 h)
    ("Asia/Bangkok", (2026, 11, 22, 9, 0), {9: 5}, (2026, 11, 23, 9, 0)),
    ("Asia/Bangkok", (2026, 11, 22, 8, 59), {9: 5}, (2026, 11, 22, 9, 0)),
    # ties: the soonest of the best hours
    ("Asia/Bangkok", (2026, 11, 22, 10, 30), {8: 4, 12: 4, 21: 4}, (2026, 11, 22, 12, 0)),
    ("Asia/Bangkok", (2026, 11, 22, 13, 30), {8: 4, 12: 4, 21: 4}, (2026, 11, 22, 21, 0)),
    # no reads: 20:00
    ("Asia/Bangkok", (2026, 11, 22, 10, 0), {}, (2026, 11, 22, 20, 0)),
    ("Asia/Bangkok", (2026, 11, 22, 20, 0), {}, (2026, 11, 23, 20, 0)),
    ("Asia/Bangkok", (2026, 11, 22, 20, 1), {}, (2026, 11, 23, 20, 0)),
    # a half-hour zone: local hours start at :30 UTC
    ("Asia/Kolkata", (2026, 11, 22, 10, 5), {13: 2}, (2026, 11, 22, 13, 0)),
    # hours are counted in the shop's zone, not UTC
    ("America/New_York", (2026, 11, 22, 6, 0), {8: 3, 19: 2}, (2026, 11, 22, 8, 0)),
    # DST spring forward (New York, 8 March 2026: 02:00 does not exist): the next best hour
    ("America/New_York", (2026, 3, 8, 0, 30), {2: 9, 3: 5}, (2026, 3, 8, 3, 0)),
    # DST fall back (1 November 2026: 01:00 happens twice): the first of the two
    ("America/New_York", (2026, 11, 1, 0, 30), {1: 9}, (2026, 11, 1, 1, 0)),
    ("Europe/Berlin", (2026, 3, 29, 1, 30), {20: 1}, (2026, 3, 29, 20, 0)),
])
def test_best_send_time_is_the_next_start_of_the_peak_read_hour(zone, now_local, hours,
                                                                 expected_local):
    now = at(zone, *now_local)
    best = best_time(reads(zone, now, hours), now, zone)
    assert best.at == at(zone, *expected_local)
    assert best.at.astimezone(ZoneInfo(zone)).minute == 0
    assert now < best.at <= now + timedelta(hours=24)


def test_reads_older_than_30_days_or_in_the_future_do_not_count():
    zone = "UTC"
    now = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
    old = reads(zone, now, {15: 9}, days_ago=31)
    edge = [aggregates.to_ms(now - timedelta(days=30))]               # exactly 30×24 h: counts
    future = [aggregates.to_ms(now + timedelta(hours=3))]
    best = best_time(old + edge + future, now, zone)
    assert (best.hour, best.reads, best.total) == (10, 1, 1)
    assert best.at == datetime(2026, 11, 23, 10, 0, tzinfo=UTC)


def test_the_warning_names_the_hour_and_why():
    now = datetime(2026, 11, 22, 3, 0, tzinfo=UTC)
    best = best_time(reads("Asia/Bangkok", now, {21: 3, 9: 1}), now, "Asia/Bangkok")
    text = best.warning("Asia/Bangkok")
    assert text.startswith("send_time: 21:00–22:00 Asia/Bangkok") and "3 of 4" in text
    none = best_time([], now, "Asia/Bangkok").warning("Asia/Bangkok")
    assert "no message reads" in none and "20:00" in none


@pytest.mark.parametrize("zone, day, count", [
    ("UTC", (2026, 11, 22), 24),
    ("America/New_York", (2026, 3, 8), 24),   # the next 24 h are 24 absolute hours either way
])
def test_there_are_24_candidate_hours(zone, day, count):
    now = at(zone, *day, 0, 10)
    assert len(candidates(now, zone)) == count
