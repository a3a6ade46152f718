"""The segment rule grammar of API.md: parse, check and normalise a rule, naming every bad
node by its JSON path (``rule.all[1].op``). Pure: segment and tag look-ups are the caller's.

    normalised, problems = parse({"all": [{"attr": "age", "op": "gte", "value": 18}]})

``parse`` never raises for a bad rule; it returns the problems (``[{"path", "message"}]``)
plus what the caller must still check against storage (segment references, tag names).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from chalicelib.domain.events import CUSTOMER_EVENT_TYPES
from chalicelib.domain.ids import ID_RULE, is_id
from chalicelib.domain.reuse import find_cycle as find

COMPOSITES = ("all", "any", "not")
NODE_KEYS = ("all", "any", "not", "segment", "attr", "event", "tags", "tag_ids")
OPS = ("eq", "ne", "in", "not_in", "gte", "lte", "between", "exists")
MAX_CHILDREN = 50
MAX_DEPTH = 12
MAX_NODES = 300
MAX_LIST = 200
MAX_DAYS = 365
MAX_DAYS_AGO = 3650      # a relative time: {"days_ago": N}, N 0-3650 (API.md)
RECOMMENDED_CONDITIONS = 3

# Event groups a seller thinks in; ``order`` and ``order_paid`` are read from the per-order
# record (``order`` exactly, leaving refunded orders out; ``order_paid`` keeps them and counts
# like every other type: 50 most recent exact, older by whole days, docs/segments.md).
GROUPS: dict[str, tuple[str, ...]] = {
    "cart_or_review": ("cart_added", "review_left"),
    "view_or_favorite": ("product_viewed", "favorited"),
    "video_engaged": ("video_viewed", "video_liked", "video_clicked"),
    "live_engaged": ("live_viewed", "live_clicked"),
    "engaged": ("live_viewed", "live_clicked", "video_viewed", "video_liked", "video_clicked",
                "product_card_clicked"),
}
ORDER_EVENTS = ("order", "order_paid")
EVENT_NAMES = frozenset(CUSTOMER_EVENT_TYPES) | frozenset(GROUPS) | frozenset(ORDER_EVENTS)
# The event types a rule may narrow to one plan (API.md "Precisely": plan_id goes only with
# these). The aggregates keep a few more per plan (agg["plans"]); no rule reads those.
PLAN_EVENTS = frozenset({"message_read", "message_clicked", "message_replied"})

GENDERS = ("female", "male", "unknown")
_LANG = re.compile(r"^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$")
_ALL_OPS = frozenset(OPS)
_SET_OPS = frozenset({"eq", "ne", "in", "not_in", "exists"})
_RANGE_OPS = frozenset({"gte", "lte", "between", "exists"})


@dataclass(frozen=True)
class AttrSpec:
    kind: str              # int | number | money | enum | text | language | bool | time | days
    ops: frozenset[str]


ATTRS: dict[str, AttrSpec] = {
    "age": AttrSpec("int", _ALL_OPS),
    "gender": AttrSpec("enum", _SET_OPS),
    "region": AttrSpec("text", _SET_OPS),
    "language": AttrSpec("language", _SET_OPS),
    "is_follower": AttrSpec("bool", frozenset({"eq", "ne"})),
    "followed_days": AttrSpec("days", _RANGE_OPS),
    "order_count": AttrSpec("int", _ALL_OPS),
    "total_paid": AttrSpec("money", _ALL_OPS),
    "avg_order_value": AttrSpec("money", _ALL_OPS),
    "first_order_at": AttrSpec("time", _RANGE_OPS),
    "last_order_at": AttrSpec("time", _RANGE_OPS),
}


@dataclass
class Parsed:
    """The outcome of ``parse``: the normalised rule (None when there are problems) and what
    the caller must resolve."""
    rule: dict | None
    problems: list[dict[str, str]] = field(default_factory=list)
    segment_refs: list[tuple[str, str]] = field(default_factory=list)   # (path, segment id)
    tag_names: list[tuple[str, str]] = field(default_factory=list)      # (path, name)
    tag_ids: list[tuple[str, str]] = field(default_factory=list)        # (path, id)
    conditions: int = 0


class _Bad(Exception):
    def __init__(self, path: str, message: str) -> None:
        super().__init__(message)
        self.path, self.message = path, message


def parse(rule: Any, path: str = "rule") -> Parsed:
    """Check and normalise a rule; every problem is reported with its node's JSON path."""
    out = Parsed(rule=None)
    counter = {"nodes": 0}
    normalised = _node(rule, path, out, 0, counter)
    if not out.problems:
        out.rule = normalised
    return out


def warnings_for(parsed: Parsed) -> list[str]:
    """The seller center's advice; never an error."""
    if parsed.conditions < RECOMMENDED_CONDITIONS:
        return [f"the rule has {parsed.conditions} condition(s); at least "
                f"{RECOMMENDED_CONDITIONS} are recommended for a well-targeted segment"]
    return []


def _node(node: Any, path: str, out: Parsed, depth: int, counter: dict) -> Any:
    counter["nodes"] += 1
    if counter["nodes"] > MAX_NODES:
        if counter["nodes"] == MAX_NODES + 1:
            out.problems.append({"path": path, "message": f"a rule has at most {MAX_NODES} nodes"})
        return None
    if depth > MAX_DEPTH:
        out.problems.append({"path": path, "message": f"rules nest at most {MAX_DEPTH} deep"})
        return None
    if not isinstance(node, dict):
        out.problems.append({"path": path, "message": "a rule node must be a JSON object"})
        return None
    kinds = [k for k in NODE_KEYS if k in node]
    if len(kinds) != 1:
        message = ("a rule node needs exactly one of: " + ", ".join(NODE_KEYS)) if not kinds \
            else f"a rule node has exactly one kind; found {', '.join(kinds)}"
        out.problems.append({"path": path, "message": message})
        return None
    kind = kinds[0]
    try:
        if kind in ("all", "any"):
            return _composite(node, kind, path, out, depth, counter)
        if kind == "not":
            _only(node, {"not"}, path)
            return {"not": _node(node["not"], f"{path}.not", out, depth + 1, counter)}
        out.conditions += 1
        if kind == "segment":
            return _segment(node, path, out)
        if kind == "attr":
            return _attr(node, path)
        if kind == "event":
            return _event(node, path)
        return _tags(node, kind, path, out)
    except _Bad as bad:
        out.problems.append({"path": bad.path, "message": bad.message})
        return None


def _only(node: dict, allowed: set[str], path: str) -> None:
    extra = sorted(set(node) - allowed)
    if extra:
        raise _Bad(f"{path}.{extra[0]}", f"unknown field '{extra[0]}' here; allowed: "
                   + ", ".join(sorted(allowed)))


def _composite(node: dict, kind: str, path: str, out: Parsed, depth: int, counter: dict) -> dict:
    _only(node, {kind}, path)
    children = node[kind]
    here = f"{path}.{kind}"
    if not isinstance(children, list) or not children:
        raise _Bad(here, f"'{kind}' takes a non-empty list of rules")
    if len(children) > MAX_CHILDREN:
        raise _Bad(here, f"'{kind}' takes at most {MAX_CHILDREN} rules")
    return {kind: [_node(c, f"{here}[{i}]", out, depth + 1, counter)
                   for i, c in enumerate(children)]}


def _segment(node: dict, path: str, out: Parsed) -> dict:
    _only(node, {"segment"}, path)
    seg = node["segment"]
    if not is_id(seg):
        raise _Bad(f"{path}.segment", f"'segment' takes a segment id: {ID_RULE}")
    out.segment_refs.append((f"{path}.segment", seg))
    return {"segment": seg}


def _tags(node: dict, kind: str, path: str, out: Parsed) -> dict:
    _only(node, {kind}, path)
    spec = node[kind]
    here = f"{path}.{kind}"
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in ("any", "all", "none"):
        raise _Bad(here, f"'{kind}' takes exactly one of any / all / none with a list")
    mode, values = next(iter(spec.items()))
    if not isinstance(values, list) or not values or len(values) > MAX_LIST:
        raise _Bad(f"{here}.{mode}", f"takes a list of 1 to {MAX_LIST} tag "
                   + ("names" if kind == "tags" else "ids"))
    sink = out.tag_names if kind == "tags" else out.tag_ids
    for i, value in enumerate(values):
        if not isinstance(value, str) or not value.strip():
            raise _Bad(f"{here}.{mode}[{i}]", "a tag " + ("name" if kind == "tags" else "id")
                       + " must be a non-empty string")
        if kind == "tag_ids" and not is_id(value):
            raise _Bad(f"{here}.{mode}[{i}]", f"not a tag id: {ID_RULE}")
        sink.append((f"{here}.{mode}[{i}]", value))
    return {kind: {mode: list(dict.fromkeys(values))}}


def _event(node: dict, path: str) -> dict:
    _only(node, {"event", "within_days", "count", "plan_id", "amount"}, path)
    etype = node["event"]
    if not isinstance(etype, str) or etype not in EVENT_NAMES:
        raise _Bad(f"{path}.event", f"unknown event type {etype!r}; use an event type of "
                   "API.md or a group: order, " + ", ".join(GROUPS))
    if "within_days" not in node:
        raise _Bad(f"{path}.within_days", f"required: the window in days (1-{MAX_DAYS})")
    days = node["within_days"]
    if not _is_int(days) or not 1 <= days <= MAX_DAYS:
        raise _Bad(f"{path}.within_days", f"must be a whole number of days from 1 to {MAX_DAYS}")
    out: dict[str, Any] = {"event": etype, "within_days": int(days)}
    count = node.get("count", {"gte": 1})
    out["count"] = _bounds(count, f"{path}.count", _whole_count)
    if "plan_id" in node and node["plan_id"] is not None:
        plan = node["plan_id"]
        if etype not in PLAN_EVENTS:
            raise _Bad(f"{path}.plan_id", "plan_id applies to messages only: "
                       + ", ".join(sorted(PLAN_EVENTS)))
        if not is_id(plan):
            raise _Bad(f"{path}.plan_id", f"plan_id must be a plan id: {ID_RULE}")
        out["plan_id"] = plan
    if "amount" in node and node["amount"] is not None:
        if etype not in ORDER_EVENTS:
            raise _Bad(f"{path}.amount", "amount (total paid in the window) applies to "
                       "'order' and 'order_paid' only")
        out["amount"] = _bounds(node["amount"], f"{path}.amount", _money)
    return out


def _bounds(spec: Any, path: str, convert: Any) -> dict:
    if not isinstance(spec, dict) or not spec or set(spec) - {"gte", "lte"}:
        raise _Bad(path, "takes {\"gte\": min} and/or {\"lte\": max}")
    out = {k: convert(spec[k], f"{path}.{k}") for k in ("gte", "lte") if k in spec}
    if "gte" in out and "lte" in out and Decimal(str(out["gte"])) > Decimal(str(out["lte"])):
        raise _Bad(path, "gte must not be greater than lte")
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _whole_count(value: Any, path: str) -> int:
    if not _is_int(value) or value < 0 or value > 1_000_000:
        raise _Bad(path, "must be a whole number from 0")
    return int(value)


def _money(value: Any, path: str) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise _Bad(path, "money takes a decimal string or a number, e.g. \"129.90\"")
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise _Bad(path, f"not a decimal amount: {value!r}") from None
    if not amount.is_finite() or amount < 0 or amount > Decimal("1e12"):
        raise _Bad(path, "money must be a finite amount from 0")
    return str(amount)


def _attr(node: dict, path: str) -> dict:
    _only(node, {"attr", "op", "value"}, path)
    name = node["attr"]
    if not isinstance(name, str) or name not in ATTRS:
        raise _Bad(f"{path}.attr", f"unknown attribute {name!r}; one of: " + ", ".join(ATTRS))
    spec = ATTRS[name]
    op = node.get("op")
    if not isinstance(op, str) or op not in OPS:
        raise _Bad(f"{path}.op", f"unknown op {op!r}; one of: " + ", ".join(OPS))
    if op not in spec.ops:
        raise _Bad(f"{path}.op", f"'{op}' does not apply to {name}; use one of: "
                   + ", ".join(o for o in OPS if o in spec.ops))
    if "value" not in node:
        raise _Bad(f"{path}.value", "required")
    value = node["value"]
    here = f"{path}.value"
    if op == "exists":
        if not isinstance(value, bool):
            raise _Bad(here, "exists takes true or false")
        return {"attr": name, "op": op, "value": value}
    if op in ("in", "not_in"):
        if not isinstance(value, list) or not value or len(value) > MAX_LIST:
            raise _Bad(here, f"'{op}' takes a list of 1 to {MAX_LIST} values")
        return {"attr": name, "op": op,
                "value": [_scalar(spec.kind, v, f"{here}[{i}]") for i, v in enumerate(value)]}
    if op == "between":
        if not isinstance(value, list) or len(value) != 2:
            raise _Bad(here, "'between' takes [low, high], both included")
        lo, hi = (_scalar(spec.kind, v, f"{here}[{i}]") for i, v in enumerate(value))
        if _reversed(spec.kind, lo, hi):
            raise _Bad(here, "low must not be greater than high")
        return {"attr": name, "op": op, "value": [lo, hi]}
    return {"attr": name, "op": op, "value": _scalar(spec.kind, value, here)}


def _reversed(kind: str, lo: Any, hi: Any) -> bool:
    """A ``between`` whose low end lies above its high end. Times compare when both are ISO
    or both relative (``{"days_ago": 30}`` is before ``{"days_ago": 0}``); a mixed pair
    depends on when it is read and is taken as the range between its two ends."""
    if kind != "time":
        return Decimal(str(lo)) > Decimal(str(hi))
    if isinstance(lo, dict) and isinstance(hi, dict):
        return lo["days_ago"] < hi["days_ago"]
    if isinstance(lo, str) and isinstance(hi, str):
        return _moment(lo) > _moment(hi)
    return False


def _moment(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _scalar(kind: str, value: Any, path: str) -> Any:
    if kind == "int":
        if not _is_int(value) or not 0 <= value <= 1_000_000:
            raise _Bad(path, "takes a whole number from 0")
        return value
    if kind == "days":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value <= 100_000:
            raise _Bad(path, "takes a number of days from 0")
        return value
    if kind == "money":
        return _money(value, path)
    if kind == "enum":
        if value not in GENDERS:
            raise _Bad(path, "gender is one of: " + ", ".join(GENDERS))
        return value
    if kind == "bool":
        if not isinstance(value, bool):
            raise _Bad(path, "takes true or false")
        return value
    if kind == "text":
        if not isinstance(value, str) or not value.strip() or len(value) > 100:
            raise _Bad(path, "takes a text of 1 to 100 characters")
        return value.strip()
    if kind == "language":
        if not isinstance(value, str) or not _LANG.match(value):
            raise _Bad(path, "takes a BCP-47 language code such as th, vi or en-US")
        return value
    return _time(value, path)


def _time(value: Any, path: str) -> Any:
    if isinstance(value, dict):
        if set(value) != {"days_ago"} or not _is_int(value["days_ago"]) \
                or not 0 <= value["days_ago"] <= MAX_DAYS_AGO:
            raise _Bad(path, "a relative time is {\"days_ago\": N} with N a whole number "
                       f"from 0 to {MAX_DAYS_AGO}")
        return {"days_ago": value["days_ago"]}
    if isinstance(value, str):
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            moment = None
        if moment is not None and moment.tzinfo is not None:
            return value
    raise _Bad(path, "takes an ISO time with an offset (2026-11-22T10:00:00Z) or {\"days_ago\": N}")


def walk(rule: dict, visit: Any, path: str = "") -> None:
    """Call ``visit(node, path)`` on every node of a normalised rule, parents first."""
    visit(rule, path)
    prefix = f"{path}." if path else ""
    for kind in ("all", "any"):
        if kind in rule:
            for i, child in enumerate(rule[kind]):
                walk(child, visit, f"{prefix}{kind}[{i}]")
    if "not" in rule:
        walk(rule["not"], visit, f"{prefix}not")


def replace_tags(rule: dict, convert: Any) -> dict:
    """A copy of a normalised rule with every tags / tag_ids node replaced by ``convert(node)``."""
    for kind in ("all", "any"):
        if kind in rule:
            return {kind: [replace_tags(c, convert) for c in rule[kind]]}
    if "not" in rule:
        return {"not": replace_tags(rule["not"], convert)}
    if "tags" in rule or "tag_ids" in rule:
        return convert(rule)
    return rule


def references(rule: dict) -> set[str]:
    """Segment ids a normalised rule reuses directly."""
    found: set[str] = set()
    walk(rule, lambda node, _: found.add(node["segment"]) if "segment" in node else None)
    return found


def find_cycle(start: set[str], rules: dict[str, dict], editing: str | None) -> list[str] | None:
    """A chain of segment ids from ``start`` back to ``editing`` (or any loop), else None.
    ``rules`` maps segment id -> its normalised rule; each rule is walked once (reuse.py)."""
    return find(start, lambda seg: references(rules.get(seg, {})), editing)
