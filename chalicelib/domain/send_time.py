"""Send-time optimisation (API.md "Send-time optimisation"): ``send_at: "best"`` is the start
of the next local hour, within the next 24 hours, whose hour of day had the most
``message_read`` events over the shop's last 30 days, counted in the shop's time zone.
Ties go to the soonest; a shop with no reads in those 30 days gets 20:00. Pure."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from pydantic import PlainValidator, TypeAdapter, ValidationError, WithJsonSchema

from chalicelib.domain import aggregates
from chalicelib.domain.vouchers import Moment

WINDOW_MS = 30 * aggregates.DAY_MS
DEFAULT_HOUR = 20
BEST = "best"
_MOMENT: TypeAdapter = TypeAdapter(Moment)


def _send_at(value: Any) -> datetime | str:
    if value == BEST:
        return BEST
    try:
        return _MOMENT.validate_python(value)
    except ValidationError as exc:   # one message at the field itself, not per union arm
        raise ValueError(f"not a time with an offset, nor \"best\": "
                         f"{exc.errors()[0]['msg']}") from None


# A plan's ``send_at``: a time (any offset; none: the shop's zone), or "best".
SendAt = Annotated[datetime | str, PlainValidator(_send_at), WithJsonSchema(
    {"anyOf": [{"type": "string", "format": "date-time"}, {"const": BEST}]})]


@dataclass(frozen=True)
class BestTime:
    at: datetime            # UTC, the start of a local hour
    hour: int               # that hour of the day, shop time
    reads: int              # reads in that hour of day over the last 30 days (0: the default)
    total: int              # reads over the last 30 days

    def warning(self, timezone: str) -> str:
        when = self.at.isoformat().replace("+00:00", "Z")
        if not self.total:
            return (f"send_time: no message reads in the last 30 days; scheduled at the default "
                    f"{DEFAULT_HOUR:02d}:00 {timezone} ({when})")
        return (f"send_time: {self.hour:02d}:00–{(self.hour + 1) % 24:02d}:00 {timezone} had the "
                f"most message reads in the last 30 days ({self.reads} of {self.total}); "
                f"scheduled at {when}")


def read_hours(read_times_ms: Iterable[int], now_ms: int, timezone: str) -> Counter[int]:
    """Reads of the last 30 days (now - 30×24 h <= t <= now) per local hour of day."""
    zone = ZoneInfo(timezone)
    since = now_ms - WINDOW_MS
    return Counter(datetime.fromtimestamp(t / 1000, UTC).astimezone(zone).hour
                   for t in read_times_ms if since <= t <= now_ms)


def candidates(now: datetime, timezone: str) -> list[datetime]:
    """The starts of the local hours after ``now`` and at most 24 h ahead (UTC), soonest
    first. Hours are stepped in absolute time, so a DST day has 23 or 25 of them: a skipped
    local hour is simply absent, a repeated one appears twice."""
    zone = ZoneInfo(timezone)
    local = now.astimezone(zone)
    floor = local.replace(minute=0, second=0, microsecond=0).astimezone(UTC)
    # A zone whose offset is not whole hours (India +05:30) starts its hours at :30 UTC:
    # flooring the local time and converting back keeps that.
    out = []
    step = floor + timedelta(hours=1)
    while step <= now + timedelta(hours=24):
        if step > now:
            out.append(step)
        step += timedelta(hours=1)
    return out


def best_time(read_times_ms: Iterable[int], now: datetime, timezone: str) -> BestTime:
    """The best send time for a shop whose reads happened at ``read_times_ms``."""
    hours = read_hours(read_times_ms, aggregates.to_ms(now), timezone)
    zone = ZoneInfo(timezone)
    slots = [(at, at.astimezone(zone).hour) for at in candidates(now, timezone)]
    total = sum(hours.values())
    if total:
        # max() keeps the first of equals: the soonest slot among the hours with most reads.
        at, hour = max(slots, key=lambda s: hours.get(s[1], 0))
        return BestTime(at=at, hour=hour, reads=hours.get(hour, 0), total=total)
    at, hour = next(((a, h) for a, h in slots if h == DEFAULT_HOUR), slots[-1])
    return BestTime(at=at, hour=hour, reads=0, total=0)
