"""The overview's pure rules (domain/overview.py): days in the shop's time zone across DST
and zone edges, the window, and the rollups' arithmetic."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest

from chalicelib.domain import overview as rules


def ms(text: str) -> int:
    return int(datetime.fromisoformat(text).timestamp() * 1000)


@pytest.mark.parametrize("instant, zone, day", [
    ("2026-12-02T16:59:59.999+00:00", "Asia/Bangkok", "2026-12-02"),
    ("2026-12-02T17:00:00+00:00", "Asia/Bangkok", "2026-12-03"),        # Bangkok midnight
    ("2026-12-02T23:59:59+00:00", "UTC", "2026-12-02"),
    ("2026-12-03T00:00:00+00:00", "UTC", "2026-12-03"),
    ("2026-12-02T18:29:59+00:00", "Asia/Kolkata", "2026-12-02"),        # +05:30
    ("2026-12-02T18:30:00+00:00", "Asia/Kolkata", "2026-12-03"),
    ("2026-12-02T18:14:59+00:00", "Asia/Kathmandu", "2026-12-02"),      # +05:45
    ("2026-12-02T18:15:00+00:00", "Asia/Kathmandu", "2026-12-03"),
    ("2026-03-08T04:59:59+00:00", "America/New_York", "2026-03-07"),    # spring forward day
    ("2026-03-08T05:00:00+00:00", "America/New_York", "2026-03-08"),
    ("2026-11-01T03:59:59+00:00", "America/New_York", "2026-10-31"),    # fall back day (EDT)
    ("2026-11-01T04:00:00+00:00", "America/New_York", "2026-11-01"),
    ("2026-11-02T04:59:59+00:00", "America/New_York", "2026-11-01"),    # its 25th hour
    ("2026-11-02T05:00:00+00:00", "America/New_York", "2026-11-02"),
    ("2026-12-02T10:00:00+00:00", "Pacific/Kiritimati", "2026-12-03"),  # +14
    ("2026-12-02T10:00:00+00:00", "Pacific/Pago_Pago", "2026-12-01"),   # -11
])
def test_an_instant_falls_on_its_calendar_day_in_the_shops_zone(instant, zone, day):
    assert rules.local_day(ms(instant), zone) == day


@pytest.mark.parametrize("day, zone, start", [
    (date(2026, 12, 3), "Asia/Bangkok", "2026-12-02T17:00:00+00:00"),
    (date(2026, 3, 8), "America/New_York", "2026-03-08T05:00:00+00:00"),   # a 23-hour day
    (date(2026, 3, 9), "America/New_York", "2026-03-09T04:00:00+00:00"),
    (date(2026, 11, 1), "America/New_York", "2026-11-01T04:00:00+00:00"),  # a 25-hour day
    # Santiago jumps from 00:00 to 01:00: the day starts at the jump (04:00Z = 01:00 -03).
    (date(2026, 9, 6), "America/Santiago", "2026-09-06T04:00:00+00:00"),
    # Santiago falls back at 00:00 -03 to 23:00 -04: 4 April has the repeated hour, and
    # 5 April starts after it (00:00 -04).
    (date(2026, 4, 5), "America/Santiago", "2026-04-05T04:00:00+00:00"),
])
def test_a_day_starts_at_its_first_instant_in_the_zone(day, zone, start):
    got = rules.day_start_ms(day, zone)
    assert got == ms(start)
    assert rules.local_day(got, zone) == day.isoformat()
    assert rules.local_day(got - 1, zone) == (day - timedelta(days=1)).isoformat()


@pytest.mark.parametrize("zone", ["UTC", "Asia/Bangkok", "America/New_York", "America/Santiago",
                                  "Australia/Lord_Howe", "Pacific/Apia", "Asia/Kathmandu"])
@pytest.mark.parametrize("days", [1, 2, 30, 365])
def test_the_window_is_days_calendar_days_ending_today(zone, days):
    for now in (datetime(2026, 3, 8, 12, tzinfo=UTC), datetime(2026, 11, 1, 3, 30, tzinfo=UTC),
                datetime(2026, 12, 31, 23, 59, tzinfo=UTC), datetime(2026, 9, 6, 4, tzinfo=UTC)):
        listed, start = rules.window(now, zone, days)
        today = now.astimezone(ZoneInfo(zone)).date()
        assert len(listed) == days == len(set(listed))
        assert listed[-1] == today.isoformat() and listed == sorted(listed)
        assert (date.fromisoformat(listed[-1]) - date.fromisoformat(listed[0])).days == days - 1
        assert rules.local_day(start, zone) == listed[0]
        assert rules.local_day(start - 1, zone) < listed[0]


@pytest.mark.parametrize("days", [0, 366, -1])
def test_a_window_outside_1_to_365_days_is_refused(days):
    with pytest.raises(ValueError):
        rules.window(datetime(2026, 12, 2, tzinfo=UTC), "UTC", days)


def test_the_daily_series_sums_shards_and_fills_missing_days_with_zeros():
    days = ["2026-11-30", "2026-12-01", "2026-12-02"]
    rows = [{"day": "2026-12-01", "reached": 3, "read": 1, "gmv": Decimal("10.10")},
            {"day": "2026-12-01", "reached": 2, "clicked": 1, "orders": 1, "gmv": Decimal("0.05")},
            {"day": "2026-12-02", "shop_orders": 4, "shop_gmv": Decimal("99")},
            {"day": "2026-11-01", "reached": 100}]      # outside the days asked: ignored
    assert rules.daily_series(days, rows) == [
        {"date": "2026-11-30", "reached": 0, "read": 0, "clicked": 0, "orders": 0, "gmv": "0.00"},
        {"date": "2026-12-01", "reached": 5, "read": 1, "clicked": 1, "orders": 1, "gmv": "10.15"},
        {"date": "2026-12-02", "reached": 0, "read": 0, "clicked": 0, "orders": 0, "gmv": "0.00"}]


def test_shop_totals_net_out_refunds():
    rows = [{"day": "d1", "shop_orders": 3, "shop_gmv": Decimal("30.00")},
            {"day": "d1", "shop_orders": -1, "shop_gmv": Decimal("-12.50")},
            {"day": "d2"}]
    assert rules.shop_totals(rows) == (2, Decimal("17.50"))


def test_plan_totals_sum_days_and_shards_and_the_best_five_rank_by_gmv_then_orders():
    rows = [{"plan_id": "a", "delivered": 5, "orders": 1, "gmv": Decimal("10")},
            {"plan_id": "a", "delivered": 5, "failed": 1},
            {"plan_id": "b", "delivered": 1, "orders": 2, "gmv": Decimal("10")},
            *[{"plan_id": f"p{i}", "delivered": 1, "gmv": Decimal(i)} for i in range(6)]]
    totals = rules.plan_totals(rows)
    assert totals["a"] == {"delivered": 10, "failed": 1, "orders": 1, "gmv": Decimal("10")}
    assert rules.best_plans(totals) == ["b", "a", "p5", "p4", "p3"]


@pytest.mark.parametrize("part, whole, share", [
    (Decimal("100"), Decimal("150"), 0.6667), (Decimal("0"), Decimal("0"), 0.0),
    (Decimal("5"), Decimal("0"), 0.0), (Decimal("1"), Decimal("3"), 0.3333),
    (Decimal("2"), Decimal("2"), 1.0)])
def test_the_share_is_part_over_whole_to_four_places_and_0_without_shop_gmv(part, whole, share):
    assert rules.share(part, whole) == share


def test_shards_are_stable_and_spread():
    assert rules.shard("c1") == rules.shard("c1")
    assert {rules.shard(f"c{i}") for i in range(100)} == set(range(rules.SHARDS))
