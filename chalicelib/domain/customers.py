"""Customer profile rules and the customer view the API returns."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain import aggregates
from chalicelib.domain.aggregates import iso
from chalicelib.domain.ids import MAX_ID, is_id

Gender = Literal["female", "male", "unknown"]


def normalise_phone(raw: str, default_region: str | None = None) -> str:
    """E.164 of a phone number; ValueError with the reason when it is not a valid number."""
    import phonenumbers  # on first use: ~17 ms off app.py's cold import (docs/architecture.md)

    try:
        number = phonenumbers.parse(raw, default_region)
    except phonenumbers.NumberParseException as exc:
        raise ValueError(f"not a phone number: {exc}") from None
    if not phonenumbers.is_valid_number(number):
        raise ValueError("not a valid phone number")
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


class CustomerPut(BaseModel):
    """Body of PUT /v1/customers/{id}: fields left out keep their value; null clears one."""
    model_config = ConfigDict(extra="ignore")
    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    # Normalised to E.164 by the service, which knows the shop's default region.
    phone: Annotated[str, Field(min_length=1, max_length=40,
                                description="E.164, international format, or national format "
                                            "in the shop's default region")] | None = None
    age: Annotated[int, Field(ge=0, le=130)] | None = None
    gender: Gender | None = None
    region: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    language: Annotated[str, Field(pattern=r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")] | None = None


PROFILE_FIELDS = tuple(CustomerPut.model_fields)
CENTS = Decimal("0.01")
CUSTOMER_ID_MAX = MAX_ID


def usable_customer_id(customer_id: str) -> bool:
    """An id as API.md "Ids" defines it (domain/ids.py): anything else can never exist."""
    return is_id(customer_id)


def view(customer_id: str, profile: dict, agg: dict | None, tag_names: list[str],
         segments: list[str]) -> dict:
    """The shape of GET /v1/customers/{id}."""
    agg = agg or aggregates.empty()
    follows, since = aggregates.follow_state(agg)
    st = aggregates.stats(agg)
    return {
        "customer_id": customer_id,
        **{f: profile.get(f) for f in PROFILE_FIELDS},
        "is_follower": follows,
        "followed_at": iso(since),
        "blocked": aggregates.is_blocked(agg),
        "unsubscribed": aggregates.is_unsubscribed(agg),
        "tags": sorted(tag_names),
        "segments": segments,
        "stats": {"order_count": st.order_count, "total_paid": str(st.total_paid.quantize(CENTS)),
                  "first_order_at": iso(st.first_order_at),
                  "last_order_at": iso(st.last_order_at)},
    }
