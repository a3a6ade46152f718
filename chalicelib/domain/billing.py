"""Billing (API.md "Products, vouchers, settings, billing"), pure: money with three decimal
places, the price list, what an order notice's send is estimated to cost, and the ledger's
signs. Every amount is a ``Decimal``; nothing here ever sees a float.

The account holds ``balance`` (free to spend) and ``reserved`` (held for plans still
sending). Ledger kinds and their signs: ``topup`` +, ``reserve`` −, ``release`` + move the
balance, so the balance is always their sum; ``charge`` − is spent out of what was reserved
(the balance does not move) and a plan's cost is minus the sum of its charges.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from chalicelib.domain.errors import DomainError

PLACES = Decimal("0.001")
ZERO = Decimal("0.000")
MAX_TOPUP = Decimal("1000000")
PAID_CHANNELS = ("sms", "voice")
KINDS = ("topup", "reserve", "charge", "release")
# The sign each kind's amount carries in the ledger.
SIGN = {"topup": 1, "reserve": -1, "charge": -1, "release": 1}


class InsufficientBalance(DomainError):
    """402: a paid send whose estimate exceeds the prepaid balance."""
    status, code = 402, "insufficient_balance"


def money(value: Any) -> Decimal:
    """A Decimal with exactly three places (a str, int or Decimal; never a float)."""
    if isinstance(value, float):
        raise TypeError("money is never a float")
    try:
        return Decimal(value).quantize(PLACES, rounding=ROUND_HALF_UP)
    except InvalidOperation as exc:
        raise ValueError(f"not an amount: {value!r}") from exc


def text(value: Decimal) -> str:
    """An amount as the API shows it: a decimal string with three places."""
    return f"{money(value):.3f}"


def _three_places(value: Decimal) -> Decimal:
    if value != value.quantize(PLACES):
        raise ValueError("at most three decimal places")
    return money(value)


TopupAmount = Annotated[Decimal, Field(gt=0, le=MAX_TOPUP, allow_inf_nan=False,
                                       description="0 < amount ≤ 1,000,000, three places at most",
                                       examples=["50.000"]),
                        AfterValidator(_three_places)]


class TopupBody(BaseModel):
    """Body of POST /v1/billing/topups."""
    model_config = ConfigDict(extra="ignore")
    amount: TopupAmount


class Prices(BaseModel):
    """The deployment's price list: per message, in the shop's currency."""
    sms: Decimal
    voice: Decimal

    def of(self, channel: str) -> Decimal:
        return money(getattr(self, channel)) if channel in PAID_CHANNELS else ZERO

    def shown(self) -> dict[str, str]:
        return {"sms": text(self.sms), "voice": text(self.voice)}


def estimate(recipients: Iterable[tuple[bool, bool]], channels: Iterable[str],
             prices: Prices) -> Decimal:
    """What an order notice is estimated to cost: one message per paid channel for each
    order whose customer may get it. ``recipients`` gives, per order, (reachable, has_phone):
    reachable is False for a customer who blocked the shop or unsubscribed."""
    per_order = sum((prices.of(c) for c in set(channels) if c in PAID_CHANNELS), ZERO)
    count = sum(1 for reachable, has_phone in recipients if reachable and has_phone)
    return money(per_order * count)


def refused(estimate_: Decimal, balance: Decimal, currency: str) -> InsufficientBalance:
    return InsufficientBalance(
        f"the send is estimated at {text(estimate_)} {currency}, more than the balance "
        f"{text(balance)} {currency}; top up first",
        [{"estimate": text(estimate_), "balance": text(balance), "currency": currency}])


def signed(kind: str, amount: Decimal) -> Decimal:
    """The ledger amount of a movement of ``amount`` (≥ 0) of ``kind``."""
    return money(SIGN[kind] * money(amount))


def balance_of(entries: Iterable[dict]) -> Decimal:
    """The balance the ledger implies: the sum of its topups, reserves and releases."""
    return money(sum((money(e["amount"]) for e in entries if e["kind"] != "charge"), ZERO))


def cost_of(entries: Iterable[dict], plan_id: str) -> Decimal:
    """A plan's cost from the ledger: minus the sum of its (non-test) charges."""
    return money(-sum((money(e["amount"]) for e in entries if e["kind"] == "charge"
                       and e.get("plan_id") == plan_id and not e.get("test")), ZERO))


def apply(account: tuple[Decimal, Decimal], kind: str, amount: Decimal
          ) -> tuple[Decimal, Decimal]:
    """(balance, reserved) after one movement; ValueError when it would overspend: a reserve
    beyond the balance, a charge or release beyond what is reserved."""
    balance, reserved = money(account[0]), money(account[1])
    amount = money(amount)
    if amount < 0:
        raise ValueError("amounts are given unsigned")
    if kind == "topup":
        return balance + amount, reserved
    if kind == "reserve":
        if amount > balance:
            raise ValueError("a reserve beyond the balance")
        return balance - amount, reserved + amount
    if amount > reserved:
        raise ValueError(f"a {kind} beyond what is reserved")
    if kind == "charge":
        return balance, reserved - amount
    if kind == "release":
        return balance + amount, reserved - amount
    raise ValueError(f"unknown ledger kind {kind!r}")
