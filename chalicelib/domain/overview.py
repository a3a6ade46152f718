"""The overview dashboard's pure rules (SPEC.md §5, API.md "Overview"): calendar days in the
shop's time zone, the window a request covers, the daily series, the best plans, the share.

A day is a calendar date in the shop's zone (``YYYY-MM-DD``). The window of ``days`` days
ends with today and starts at the first instant of its oldest day in that zone (a day cut
short or stretched by a DST change is still one day). No clock: ``now`` is an argument.
"""

from __future__ import annotations

import zlib
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

MIN_DAYS, MAX_DAYS = 1, 365
TOP_PLANS = 5
# The metrics counted per customer (distinct): the funnel's four and the daily three.
FUNNEL = ("reached", "read", "clicked", "ordered")
DAILY_DISTINCT = ("reached", "read", "clicked")
# A day's rollup is split over this many items, so writers of one busy day spread their
# transactions instead of all conflicting on one item; a read sums the shards.
SHARDS = 4


def local_day(ms: int, timezone: str) -> str:
    """The shop-zone calendar date of an instant (UTC milliseconds)."""
    return datetime.fromtimestamp(ms / 1000, UTC).astimezone(ZoneInfo(timezone)).date().isoformat()


def day_start_ms(day: date, timezone: str) -> int:
    """The first instant (UTC ms) whose shop-zone date is ``day``. Where local midnight does
    not exist (a DST jump at 00:00) the day starts at the jump: the gap's wall time read with
    the offset before it is exactly that instant."""
    # fold 0: of a repeated midnight (a fall-back at 00:00), the earlier one.
    start = datetime.combine(day, time(0), tzinfo=ZoneInfo(timezone))
    return int(start.timestamp() * 1000)


def window(now: datetime, timezone: str, days: int) -> tuple[list[str], int]:
    """(the window's days, oldest first, the last being today; the UTC ms its oldest day
    starts at) for ``days`` days ending today in the shop's zone."""
    if not MIN_DAYS <= days <= MAX_DAYS:
        raise ValueError(f"days must be {MIN_DAYS}-{MAX_DAYS}")
    today = now.astimezone(ZoneInfo(timezone)).date()
    first = today - timedelta(days=days - 1)
    return [(first + timedelta(days=i)).isoformat() for i in range(days)], \
        day_start_ms(first, timezone)


def shard(key: str) -> int:
    """Stable rollup shard of a key (crc32: the same on every process)."""
    return zlib.crc32(key.encode()) % SHARDS


def money(value: Any) -> Decimal:
    return Decimal(str(value or 0))


def daily_series(days: list[str], rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One item per day of ``days`` (oldest first) from the day rollup rows (``day`` plus
    counters, any number of shards per day); a day without a row is all zeros."""
    by_day: dict[str, dict[str, Any]] = {
        d: {"reached": 0, "read": 0, "clicked": 0, "orders": 0, "gmv": Decimal(0)} for d in days}
    for row in rows:
        item = by_day.get(row["day"])
        if item is None:
            continue
        for name in ("reached", "read", "clicked", "orders"):
            item[name] += int(row.get(name, 0))
        item["gmv"] += money(row.get("gmv"))
    return [{"date": d, **{k: v for k, v in by_day[d].items() if k != "gmv"},
             "gmv": f"{by_day[d]['gmv']:.2f}"} for d in days]


def shop_totals(rows: list[dict[str, Any]]) -> tuple[int, Decimal]:
    """(shop orders, shop GMV) over the day rollup rows: paid, minus refunded."""
    return (sum(int(r.get("shop_orders", 0)) for r in rows),
            sum((money(r.get("shop_gmv")) for r in rows), Decimal(0)))


def plan_totals(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Per plan, over the plan rollup rows of the window's send days (any shards):
    messages delivered and failed, attributed orders and GMV."""
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        plan = out.setdefault(row["plan_id"], {"delivered": 0, "failed": 0, "orders": 0,
                                               "gmv": Decimal(0)})
        plan["delivered"] += int(row.get("delivered", 0))
        plan["failed"] += int(row.get("failed", 0))
        plan["orders"] += int(row.get("orders", 0))
        plan["gmv"] += money(row.get("gmv"))
    return out


def best_plans(totals: dict[str, dict[str, Any]], n: int = TOP_PLANS) -> list[str]:
    """The ``n`` plan ids with the most GMV (then orders, then the newest id first)."""
    ranked = sorted(totals, key=lambda p: (totals[p]["gmv"], totals[p]["orders"], p), reverse=True)
    return ranked[:n]


def share(part: Decimal, whole: Decimal) -> float:
    """``part / whole`` to four places; 0 when there is no whole."""
    return float(round(part / whole, 4)) if whole > 0 else 0.0
