"""Shop-wide settings (SPEC.md §4 delivery rules): time zone, default locale and region,
quiet hours, frequency cap, attribution window. Every field has a default, so a PUT may
leave fields out and they take their defaults."""

from __future__ import annotations

import re
from datetime import UTC, datetime, time, timedelta
from typing import Annotated
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

LOCALE_PATTERN = r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$"
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


def _zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValueError(f"unknown IANA time zone '{value}'") from exc
    return value


def _region(value: str) -> str:
    # The region is used to read phone numbers without a country code, so it must be
    # one phonenumbers knows.
    import phonenumbers  # on first use: ~17 ms off app.py's cold import (docs/architecture.md)

    upper = value.upper()
    if upper not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown region '{value}' (ISO 3166 alpha-2, e.g. TH)")
    return upper


def _hhmm(value: str) -> str:
    if not _HHMM.match(value):
        raise ValueError("must be HH:MM, 00:00–23:59")
    return value


HHMM = Annotated[str, AfterValidator(_hhmm)]


class QuietHours(BaseModel):
    """A daily window in the shop's time zone; ``start`` > ``end`` spans midnight."""
    model_config = ConfigDict(extra="ignore")
    start: HHMM = Field(description="HH:MM, shop time zone", examples=["22:00"])
    end: HHMM = Field(description="HH:MM, shop time zone", examples=["08:00"])

    @model_validator(mode="after")
    def _not_empty(self) -> QuietHours:
        if self.start == self.end:
            raise ValueError("start and end must differ")
        return self


class FrequencyCap(BaseModel):
    model_config = ConfigDict(extra="ignore")
    max_messages: int = Field(ge=1, le=1000)
    per_days: int = Field(ge=1, le=365)


class SettingsPut(BaseModel):
    """Body of PUT /v1/settings: fields left out take their defaults."""
    model_config = ConfigDict(extra="ignore")
    shop_name: Annotated[str, Field(min_length=1, max_length=100)] | None = Field(
        default=None, description="defaults to the seller id")
    timezone: Annotated[str, AfterValidator(_zone)] = "UTC"
    default_locale: Annotated[str, Field(pattern=LOCALE_PATTERN)] = "en"
    default_region: Annotated[str, AfterValidator(_region)] | None = None
    quiet_hours: QuietHours | None = None
    frequency_cap: FrequencyCap | None = None
    attribution_window_days: int = Field(default=7, ge=1, le=90)
    currency: Annotated[str, Field(pattern=r"^[A-Z]{3}$", description="ISO 4217: the shop's "
                                   "money and the billing balance's currency")] = "USD"
    send_rate_per_minute: int | None = Field(
        default=None, ge=1, le=100_000, strict=True,
        description="at most this many messages of the shop in any 60 seconds (all plans and "
                    "channels, test sends excepted); null: no limit")


class ShopSettings(SettingsPut):
    """The settings in force for a shop (``shop_name`` always filled): what GET and PUT
    /v1/settings return, every field present."""
    model_config = ConfigDict(json_schema_serialization_defaults_required=True)
    shop_name: str
    version: int = 0


def defaults(seller_id: str) -> ShopSettings:
    return ShopSettings(shop_name=seller_id)


def from_put(seller_id: str, body: SettingsPut, version: int = 0) -> ShopSettings:
    data = body.model_dump()
    data["shop_name"] = data["shop_name"] or seller_id
    return ShopSettings(**data, version=version)


def _local_minutes(hhmm: str) -> int:
    hours, minutes = hhmm.split(":")
    return int(hours) * 60 + int(minutes)


def quiet_until(when: datetime, quiet: QuietHours | None, timezone: str) -> datetime | None:
    """The end of the quiet window ``when`` falls in (an aware datetime in UTC), or None when
    ``when`` is outside quiet hours. The window is [start, end) in the shop's local time and
    may span midnight; the end is computed on the local calendar so DST days come out right."""
    if quiet is None:
        return None
    zone = ZoneInfo(timezone)
    local = when.astimezone(zone)
    minute = local.hour * 60 + local.minute + local.second / 60
    start, end = _local_minutes(quiet.start), _local_minutes(quiet.end)
    if start < end:
        inside, end_day = start <= minute < end, local.date()
    else:  # spans midnight: inside after start today, or before end (window began yesterday)
        inside = minute >= start or minute < end
        end_day = local.date() + timedelta(days=1) if minute >= start else local.date()
    if not inside:
        return None
    end_local = datetime.combine(end_day, time(end // 60, end % 60), tzinfo=zone)
    return end_local.astimezone(UTC)
