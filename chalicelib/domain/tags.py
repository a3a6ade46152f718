"""Tag rules of SPEC.md §3 that need no storage: names, dimensions and colours, tag-change
arithmetic, and the health report's computations."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from chalicelib.domain.aggregates import DAY_MS, iso, order_rows

# The fixed dimensions of the tagging guide, each with the colour a tag gets when none is given.
DIMENSION_COLORS: dict[str, str] = {
    "spending_power": "#D4A017",
    "interest": "#3B82F6",
    "purchase_stage": "#10B981",
    "source_channel": "#8B5CF6",
    "interaction_frequency": "#F97316",
    "custom": "#6B7280",
}
Dimension = Literal["spending_power", "interest", "purchase_stage", "source_channel",
                    "interaction_frequency", "custom"]
Kind = Literal["static", "dynamic"]
MAX_NAME = 50
MAX_TAGS_PER_CALL = 50

SILENT_DAYS = 30
OVERSIZED_SHARE = 0.4
STALE_DAYS = 180


def norm_name(name: str) -> str:
    """Names compare case- and space-insensitively: 'Paid ' == 'paid' == 'P aid'."""
    return "".join(name.split()).casefold()


def _tag_name(value: str) -> str:
    # Commas separate tags in an import's tags cell, so a name holding one could never be
    # imported; control characters would break CSV exports.
    value = " ".join(value.split())
    if not value:
        raise ValueError("name must not be blank")
    if "," in value or any(ord(c) < 32 for c in value):
        raise ValueError("name must not contain commas or control characters")
    return value


TagName = Annotated[str, Field(min_length=1, max_length=MAX_NAME), AfterValidator(_tag_name)]
Color = Annotated[str, Field(pattern=r"^#[0-9A-Fa-f]{6}$", description="#RRGGBB")]
NameList = Annotated[list[Annotated[str, Field(min_length=1, max_length=MAX_NAME)]],
                     Field(max_length=MAX_TAGS_PER_CALL)]


class TagCreate(BaseModel):
    """Body of POST /v1/tags."""
    model_config = ConfigDict(extra="ignore")
    name: TagName
    dimension: Dimension
    color: Color | None = None
    description: Annotated[str, Field(max_length=500)] | None = None
    kind: Kind = "static"


class TagPatch(BaseModel):
    """Body of PATCH /v1/tags/{tag_id}: fields left out keep their value."""
    model_config = ConfigDict(extra="ignore")
    name: TagName | None = None
    dimension: Dimension | None = None
    color: Color | None = None
    description: Annotated[str, Field(max_length=500)] | None = None
    kind: Kind | None = None


class TagChange(BaseModel):
    """Body of POST /v1/customers/{customer_id}/tags."""
    model_config = ConfigDict(extra="ignore")
    add: NameList = []
    remove: NameList = []
    reason: Annotated[str, Field(max_length=500)] | None = None


class BulkChange(BaseModel):
    """Body of POST /v1/tags/bulk: every customer matching ``filter`` (segment rule grammar)
    gets ``add`` and loses ``remove``."""
    model_config = ConfigDict(extra="ignore")
    filter: dict[str, Any]
    add: NameList = []
    remove: NameList = []
    reason: Annotated[str, Field(max_length=500)] | None = None


def default_color(dimension: str) -> str:
    return DIMENSION_COLORS[dimension]


def resolve_names(names: list[str], by_norm: Mapping[str, str], field: str
                  ) -> tuple[list[str], list[dict]]:
    """Tag ids for names (compared like tag names); returns (ids, error details naming the
    unknown ones by their path, e.g. ``add[1]``)."""
    ids, bad = [], []
    for index, name in enumerate(names):
        tag_id = by_norm.get(norm_name(name))
        if tag_id is None:
            bad.append({"path": f"{field}[{index}]", "message": f"tag '{name}' does not exist"})
        elif tag_id not in ids:
            ids.append(tag_id)
    return ids, bad


def overlap_details(add: list[str], remove: list[str]) -> list[dict]:
    both = set(add) & set(remove)
    return [{"path": "remove", "message": f"tag id '{t}' is both added and removed"}
            for t in sorted(both)]


def apply_change(current: Iterable[str] | None, add: Iterable[str], remove: Iterable[str]
                 ) -> tuple[set[str], list[str], list[str]]:
    """(new tag set, ids actually added, ids actually removed). Adding a tag already there or
    removing one that is not is no change, so it is neither written nor audited."""
    before = set(current or ())
    after = (before | set(add)) - set(remove)
    return after, sorted(after - before), sorted(before - after)


# ----- health ----------------------------------------------------------------------------

def guidance(count: int) -> dict:
    """Tag count against the guide: 15–20 to start, 50–80 mature, over 100 hard to manage."""
    if count < 15:
        level, message = "few", "fewer than 15 tags: the guide suggests 15–20 to start"
    elif count <= 20:
        level, message = "starter", "15–20 tags: a good starting set"
    elif count < 50:
        level, message = "growing", "21–49 tags: growing towards a mature set of 50–80"
    elif count <= 80:
        level, message = "mature", "50–80 tags: a mature set"
    elif count <= 100:
        level, message = "large", "81–100 tags: review and merge before it passes 100"
    else:
        level, message = "too_many", "more than 100 tags: hard to manage; merge or delete some"
    return {"level": level, "message": message, "start": [15, 20], "mature": [50, 80],
            "hard_above": 100}


def last_interaction(agg: dict | None) -> int | None:
    """Latest time (ms) of anything the customer did, or None when nothing is known."""
    if not agg:
        return None
    times = [t for t in agg.get("last", {}).values() if isinstance(t, int | float)]
    times += [paid for paid, _, _ in order_rows(agg) if paid]
    folded_last = (agg.get("folded") or {}).get("last")
    if folded_last:
        times.append(folded_last)
    return int(max(times)) if times else None


def _key(name: str) -> str:
    return re.sub(r"[\W_]+", "", name.casefold())


def _within_one_edit(a: str, b: str) -> bool:
    if a == b:
        return True
    if abs(len(a) - len(b)) > 1:
        return False
    if len(a) > len(b):
        a, b = b, a
    i = 0
    while i < len(a) and a[i] == b[i]:
        i += 1
    if len(a) == len(b):
        return a[i + 1:] == b[i + 1:]
    return a[i:] == b[i + 1:]


def near_duplicates(names: list[str]) -> list[list[str]]:
    """Pairs of names a person would take for one tag: the same letters apart from case,
    spaces, punctuation and underscores ("high_value" / "High-Value"), or one typo or
    plural 's' apart on names of 4+ letters ("voucher" / "vouchers")."""
    keyed = sorted((_key(n), n) for n in names)
    pairs = []
    for i, (ka, a) in enumerate(keyed):
        for kb, b in keyed[i + 1:]:
            close = ka == kb or (min(len(ka), len(kb)) >= 4 and _within_one_edit(ka, kb))
            if close:
                pairs.append(sorted([a, b], key=str.casefold))
    return sorted(pairs, key=lambda p: (p[0].casefold(), p[1].casefold()))


@dataclass
class TagStats:
    customers: int = 0
    stale: int = 0


def tally(customers: Iterable[tuple[Iterable[str] | None, dict | None, int]], now_ms: int
          ) -> tuple[int, dict[str, TagStats]]:
    """Over (tag ids, aggregates, created ms) of every customer: (customer count, per tag id
    its assignment count and how many of those had no interaction for STALE_DAYS). A
    customer who never did anything counts from when they were created."""
    total, per_tag = 0, {}
    cutoff = now_ms - STALE_DAYS * DAY_MS
    for tag_ids, agg, created in customers:
        total += 1
        if not tag_ids:
            continue
        seen = last_interaction(agg)
        stale = (seen if seen is not None else created) < cutoff
        for tag_id in tag_ids:
            stats = per_tag.setdefault(tag_id, TagStats())
            stats.customers += 1
            stats.stale += stale
    return total, per_tag


def health(tags: list[tuple[str, str]], total: int, per_tag: Mapping[str, TagStats],
           last_used: Mapping[str, int], now_ms: int) -> dict:
    """The report of GET /v1/tags/health from (tag id, name) pairs, the tally and the time
    each tag was last used by a plan."""
    silent_since = now_ms - SILENT_DAYS * DAY_MS
    rows, silent, oversized, stale = [], [], [], []
    for tag_id, name in sorted(tags, key=lambda t: t[1].casefold()):
        stats = per_tag.get(tag_id, TagStats())
        share = round(stats.customers / total, 4) if total else 0.0
        used = last_used.get(tag_id)
        if stats.customers and (used is None or used < silent_since):
            silent.append({"tag": name, "customers": stats.customers,
                           "last_used_at": iso(used)})
        if total and stats.customers / total > OVERSIZED_SHARE:
            oversized.append({"tag": name, "share": share, "customers": stats.customers})
        if stats.stale:
            stale.append({"tag": name, "customers": stats.stale})
        rows.append({"tag": name, "tag_id": tag_id, "customers": stats.customers,
                     "share": share, "last_used_at": iso(used)})
    return {"tag_count": len(tags), "guidance": guidance(len(tags)), "customers": total,
            "silent": silent, "oversized": oversized, "stale": stale,
            "near_duplicates": near_duplicates([name for _, name in tags]), "tags": rows}

