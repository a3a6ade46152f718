"""A/B tests of one-off plans (API.md "A/B tests (one-off plans)", SPEC.md §7), pure: the
request models, the stable hash sample and its even split, the winner by the metric, and
Pearson's chi-squared test over the variants' metric counts.

Nothing here reads the clock or talks to AWS: callers pass ``now_ms`` and plain values.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.domain.aggregates import iso

MIN_VARIANTS, MAX_VARIANTS = 2, 4
SMALL_SAMPLE = 100           # a variant's sample under this gets a warning
Metric = Literal["read", "click", "order"]
# The counter (plan_stats) whose per-customer count is a variant's successes.
METRIC_COUNTER = {"read": "read", "click": "clicked", "order": "buyers"}
VariantId = Annotated[str, Field(min_length=1, max_length=20, pattern=r"^[A-Za-z0-9_.:-]+$")]


class AbTest(BaseModel):
    """``ab_test``: how big the sample is, what decides, and how long the test runs."""
    model_config = ConfigDict(extra="ignore")
    sample_percent: int = Field(ge=1, le=50, description="share of the eligible audience tested")
    metric: Metric = "click"
    wait_minutes: int = Field(default=60, ge=0, le=4320)


def unique_variants(variants: list[Any]) -> list[Any]:
    ids = [v.variant_id for v in variants]
    if len(set(ids)) != len(ids):
        raise ValueError("variant_id must be unique in the plan")
    return variants


class WinnerBody(BaseModel):
    """Body of POST /v1/plans/{plan_id}/winner: ``{}`` decides by the metric now."""
    model_config = ConfigDict(extra="ignore")
    variant_id: VariantId | None = Field(default=None, description="pick this one by hand")


# ----- the sample ----------------------------------------------------------------------------

def rank(plan_id: str, customer_id: str) -> int:
    """A customer's stable place in the plan's random order (SHA-256 of plan + customer)."""
    return int.from_bytes(hashlib.sha256(f"{plan_id}:{customer_id}".encode()).digest()[:8], "big")


def sample_size(eligible: int, percent: int) -> int:
    """``percent`` of ``eligible``, rounded half up."""
    return (eligible * percent + 50) // 100


def split(plan_id: str, eligible: Sequence[str], percent: int, variant_ids: Sequence[str]
          ) -> tuple[dict[str, list[str]], list[str]]:
    """(variant -> its sample, the rest). The sample is the ``sample_size`` customers first
    in the plan's hash order, dealt round-robin over the variants in that order, so the
    variants' sizes differ by at most one; the same audience always splits the same way."""
    ordered = sorted(eligible, key=lambda cid: (rank(plan_id, cid), cid))
    size = sample_size(len(ordered), percent)
    groups: dict[str, list[str]] = {v: [] for v in variant_ids}
    for i, cid in enumerate(ordered[:size]):
        groups[variant_ids[i % len(variant_ids)]].append(cid)
    return {v: sorted(ids) for v, ids in groups.items()}, sorted(ordered[size:])


def sample_problems(sizes: Mapping[str, int]) -> list[dict[str, str]]:
    """A 400's details when some variant would get nobody."""
    empty = [v for v, n in sizes.items() if n < 1]
    if not empty:
        return []
    return [{"path": "ab_test.sample_percent",
             "message": f"the sample gives variant '{v}' no recipient; raise sample_percent or "
                        f"widen the audience"} for v in empty]


def sample_warnings(sizes: Mapping[str, int]) -> list[str]:
    return [f"ab_test: variant '{v}' has a sample of {n} (under {SMALL_SAMPLE}); its rate is "
            f"not reliable" for v, n in sizes.items() if 0 < n < SMALL_SAMPLE]


# ----- the decision --------------------------------------------------------------------------

def chi2_sf(x: float, df: int) -> float:
    """P(X >= x) for a chi-squared variable with 1, 2 or 3 degrees of freedom (closed form)."""
    if x <= 0:
        return 1.0
    if df == 1:
        return math.erfc(math.sqrt(x / 2))
    if df == 2:
        return math.exp(-x / 2)
    if df == 3:
        return math.erfc(math.sqrt(x / 2)) + math.sqrt(2 * x / math.pi) * math.exp(-x / 2)
    raise ValueError(f"df {df} is outside 1–3")


def chi_squared(counts: Sequence[tuple[int, int]]) -> tuple[float, int] | None:
    """Pearson's chi-squared statistic and degrees of freedom of a 2×k table, one column
    per variant (successes, trials). None when undefined: fewer than two columns with
    trials, or a row (all successes or all failures) that is zero."""
    columns = [(s, n - s) for s, n in counts if n > 0]
    if len(columns) < 2:
        return None
    total = sum(s + f for s, f in columns)
    rows = (sum(s for s, _ in columns), sum(f for _, f in columns))
    if 0 in rows:
        return None
    x = 0.0
    for column in columns:
        width = sum(column)
        for observed, row in zip(column, rows, strict=True):
            expected = row * width / total
            x += (observed - expected) ** 2 / expected
    return x, len(columns) - 1


def p_value(counts: Sequence[tuple[int, int]]) -> float | None:
    test = chi_squared(counts)
    return None if test is None else chi2_sf(*test)


def rate(successes: int, trials: int) -> float | None:
    return successes / trials if trials > 0 else None


def decide(variant_ids: Sequence[str], counts: Mapping[str, tuple[int, int]],
           chosen: str | None = None) -> dict[str, Any]:
    """The decision: the winner (``chosen``, else the highest rate; ties and no rate at all:
    the first listed), each variant's rate (None without delivered recipients) and the
    p-value, all from ``counts`` (variant -> (successes, delivered))."""
    rates = {v: rate(*counts.get(v, (0, 0))) for v in variant_ids}
    winner = chosen
    if winner is None:
        winner = variant_ids[0]
        for v in variant_ids:
            if rates[v] is not None and (rates[winner] is None or rates[v] > rates[winner]):
                winner = v
    return {"winner": winner, "rates": rates,
            "p_value": p_value([counts.get(v, (0, 0)) for v in variant_ids])}


def unknown_variant(variant_ids: Sequence[str], chosen: str) -> list[dict[str, str]]:
    if chosen in variant_ids:
        return []
    return [{"path": "variant_id", "message": f"no variant '{chosen}' in this plan "
                                              f"(it has {', '.join(variant_ids)})"}]


# ----- the plan form -------------------------------------------------------------------------

def shape_problems(plan: Mapping[str, Any]) -> list[dict[str, str]]:
    """Rules that hold for every saved plan: variants only on one-off plans, and variants and
    ``ab_test`` only together."""
    variants, ab_test = plan.get("variants"), plan.get("ab_test")
    if variants is None and ab_test is None:
        return []
    if plan["kind"] != "one_off":
        return [{"path": "variants" if variants is not None else "ab_test",
                 "message": "A/B tests are for one-off plans"}]
    if variants is not None and ab_test is None:
        return [{"path": "ab_test", "message": "a plan with variants needs ab_test"}]
    if ab_test is not None and variants is None:
        return [{"path": "variants", "message": f"ab_test needs {MIN_VARIANTS}–{MAX_VARIANTS} "
                                                f"variants"}]
    return []


def effective(plan: Mapping[str, Any], variant: Mapping[str, Any]) -> dict[str, Any]:
    """The plan as one variant's recipients get it: the variant's fields replace the plan's
    own (a field the variant leaves out keeps the plan's)."""
    return {**plan, **{k: variant[k] for k in ("content", "voucher", "product_ids") if k in variant}}


def view(extra: Mapping[str, Any], decision: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``ab_test`` as the plan shows it: the settings, then the decision once made."""
    settings = extra.get("ab_test")
    if settings is None:
        return None
    decision = decision or {}
    return {**AbTest.model_validate(settings).model_dump(),
            "status": "decided" if decision else "testing",
            "winner": decision.get("winner"), "decided_at": iso(decision.get("decided_at")),
            "decided_by": decision.get("by"),
            "rates": decision.get("rates"), "p_value": decision.get("p_value")}


# ----- performance -----------------------------------------------------------------------

VARIANT_COUNTERS = ("delivered", "read", "clicked", "replied", "orders")


def by_variant(variant_ids: Sequence[str], record: Mapping[str, Any] | None,
               parts: Sequence[Mapping[str, Any]], winner: str | None) -> dict[str, dict[str, Any]]:
    """``performance.by_variant``: each variant's counters, summed over its chunks' parts
    (``c#<n>``: the sample's chunks by the dispatch record's ``ab_chunk_variants``, the
    rest's under the winner once decided). ``recipients`` is the variant's sample, plus
    the rest for the winner."""
    record = record or {}
    variants_of = list(record.get("ab_chunk_variants") or [])
    sizes, rest = record.get("ab_sizes") or {}, int(record.get("ab_rest") or 0)
    out: dict[str, dict[str, Any]] = {
        v: {"recipients": int(sizes.get(v, 0)) + (rest if v == winner else 0),
            **dict.fromkeys(VARIANT_COUNTERS, 0), "gmv": Decimal(0)} for v in variant_ids}
    for part in parts:
        name = str(part.get("part", ""))
        if not name.startswith("c#"):
            continue
        number = int(name[2:])
        variant = variants_of[number] if number < len(variants_of) else winner
        if variant not in out:
            continue
        for counter in VARIANT_COUNTERS:
            out[variant][counter] += int(part.get(counter, 0))
        out[variant]["gmv"] += Decimal(str(part.get("gmv", 0)))
    return {v: {**figures, "gmv": f"{figures['gmv']:.2f}"} for v, figures in out.items()}
