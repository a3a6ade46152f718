"""A holdout's lift (SPEC.md §7, API.md "Holdout"): the difference of two conversion rates
with Newcombe's hybrid score interval (method 10 of Newcombe 1998, "Interval estimation
for the difference between independent proportions: comparison of eleven methods", Stat
Med 17:873-890), built from the two groups' Wilson score intervals (no continuity
correction). Valid at small sizes and at rates of 0 or 1, where the Wald interval is not.
Pure. Rates are floats (fractions 0-1); money is Decimal."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal
from math import sqrt
from typing import Any

from chalicelib.domain.aggregates import DAY_MS

Z95 = 1.959963984540054   # the standard normal's 97.5th percentile
CENT = Decimal("0.01")


def wilson(x: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson's score interval for x successes out of n (n > 0)."""
    p, z2 = x / n, z * z
    centre, half = p + z2 / (2 * n), z * sqrt(p * (1 - p) / n + z2 / (4 * n * n))
    return (centre - half) / (1 + z2 / n), (centre + half) / (1 + z2 / n)


def newcombe(x1: int, n1: int, x2: int, n2: int, z: float = Z95
             ) -> tuple[float, float, float]:
    """(p1 - p2, lower, upper): Newcombe's hybrid score interval for p1 - p2 (n1, n2 > 0)."""
    p1, p2 = x1 / n1, x2 / n2
    (l1, u1), (l2, u2) = wilson(x1, n1, z), wilson(x2, n2, z)
    d = p1 - p2
    return d, d - sqrt((p1 - l1) ** 2 + (u2 - p2) ** 2), d + sqrt((u1 - p1) ** 2 + (p2 - l2) ** 2)


def converts(send_ms: int, order_ms: int, window_days: int) -> bool:
    """A paid order converts a plan's customer (recipient or held out) when it falls within
    the attribution window after the plan's send time: strictly after the send (a thank-you
    occurrence due at once is not converted by the order that triggered it), up to and
    including the window's end."""
    return send_ms < order_ms <= send_ms + window_days * DAY_MS


def window_orders(order_rows: list, send_ms: int, window_days: int) -> tuple[bool, Decimal]:
    """(converted, GMV) of one customer's kept orders (``aggregates.order_rows``: paid ms,
    amount, refunded ms) for one send: every order paid within the window after it."""
    amounts = [Decimal(amount or 0) for paid, amount, _ in order_rows
               if paid is not None and converts(send_ms, paid, window_days)]
    return bool(amounts), sum(amounts, Decimal(0))


def _rate(x: int, n: int) -> float | None:
    return x / n if n else None


def _money(value: Decimal) -> str:
    return f"{value.quantize(CENT, rounding=ROUND_HALF_EVEN)}"


def holdout_figures(delivered: int, converted: int, gmv: Decimal, held: int,
                    held_converted: int, held_gmv: Decimal, voucher_cost: Decimal
                    ) -> dict[str, Any]:
    """Performance's holdout fields. ``delivered``/``converted``/``gmv``: the delivered
    recipients, those who paid an order in the window, and every paid order of theirs in
    it; ``held*`` the same for the held-out customers. A group of nobody has no rate: the
    rates, the lift and the incremental GMV that need it are null."""
    mine, theirs = _rate(converted, delivered), _rate(held_converted, held)
    lift: dict[str, Any] = {"absolute": None, "ci95": None, "method": "newcombe"}
    if mine is not None and theirs is not None:
        d, lo, hi = newcombe(converted, delivered, held_converted, held)
        lift.update(absolute=d, ci95=[max(-1.0, lo), min(1.0, hi)])
    # (gmv / delivered − held_gmv / held) × delivered, without rounding the per-head figures
    incremental = gmv - held_gmv * delivered / held if held else None
    return {
        "holdout": {"size": held, "converted": held_converted, "conversion": theirs},
        "recipients_conversion": mine, "lift": lift,
        "incremental_gmv": _money(incremental) if incremental is not None else None,
        "net_incremental_gmv": _money(incremental - voucher_cost)
        if incremental is not None else None,
    }
