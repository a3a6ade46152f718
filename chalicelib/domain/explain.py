"""Why a customer is in or out of a segment: every node of the rule, whether it held and the
value (or count) it compared. Uses the same compiled leaves as evaluation, so an explanation
can never disagree with membership.

Paths are relative to the rule (the root is ``""``, its children ``all[0]``, ``all[1]``...);
a reused segment's own rule is explained under ``<path>.segment`` where it first appears;
a later mention of the same segment gives its outcome and ``explained_at``, that first path
(so an explanation grows with the segments a rule reaches, not with the paths to them).
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from chalicelib.domain.aggregates import DAY_MS, iso
from chalicelib.domain.compiler import Compiler, event_counter, order_amount
from chalicelib.domain.profile import Profile

CENT = Decimal("0.01")


def explain(rule: dict, profile: Profile, compiler: Compiler,
            display: Callable[[dict], dict], tag_names: dict[str, str]) -> tuple[bool, list[dict]]:
    """(member, conditions) for one profile. ``display`` turns a stored node into what the
    seller wrote (tag ids into names); ``tag_names`` maps tag id -> name for ``saw``."""
    out: list[dict] = []
    held = _node(rule, "", profile, compiler, display, tag_names, out, set(), {})
    return held, out


def _child(path: str, part: str) -> str:
    return f"{path}.{part}" if path else part


def _node(node: dict, path: str, p: Profile, compiler: Compiler, display: Callable,
          names: dict[str, str], out: list[dict], seen: set[str], expanded: dict[str, str]
          ) -> bool:
    entry: dict[str, Any] = {"path": path}
    out.append(entry)
    for kind in ("all", "any"):
        if kind in node:
            paths = [_child(path, f"{kind}[{i}]") for i in range(len(node[kind]))]
            results = [_node(c, cp, p, compiler, display, names, out, seen, expanded)
                       for c, cp in zip(node[kind], paths, strict=True)]
            held = all(results) if kind == "all" else any(results)
            entry.update(condition={kind: paths}, held=held,
                         saw={"held": sum(results), "of": len(results)})
            return held
    if "not" in node:
        inner = _node(node["not"], _child(path, "not"), p, compiler, display, names, out, seen,
                      expanded)
        entry.update(condition={"not": _child(path, "not")}, held=not inner, saw=inner)
        return not inner
    if "segment" in node:
        seg = node["segment"]
        rule = compiler.resolver.segment(seg)
        if rule is None or seg in seen:   # gone, or a loop: it cannot hold
            entry.update(condition={"segment": seg}, held=False, saw={"member": False})
            return False
        if seg in expanded:
            held = compiler.segment(seg)(p)
            entry.update(condition={"segment": seg}, held=held, saw={"member": held},
                         explained_at=expanded[seg])
            return held
        entry.update(condition={"segment": seg})
        expanded[seg] = _child(path, "segment")
        held = _node(rule, _child(path, "segment"), p, compiler, display, names, out, seen | {seg},
                     expanded)
        entry.update(held=held, saw={"member": held})
        return held
    held = compiler.compile(node)(p)
    entry.update(condition=display(node), held=held, saw=_saw(node, p, compiler, names))
    return held


def _saw(node: dict, p: Profile, compiler: Compiler, names: dict[str, str]) -> Any:
    if "attr" in node:
        return attribute_value(node["attr"], p, compiler.now_ms)
    if "event" in node:
        since, until = compiler.window(node)
        count = event_counter(node, since, until)(p)
        if "amount" in node:
            paid = order_amount(node, since, until)(p)
            return {"count": count, "amount": str(paid.quantize(CENT, ROUND_HALF_UP))}
        return count
    return sorted(names.get(t, t) for t in p.tags)


def attribute_value(name: str, p: Profile, now_ms: int) -> Any:
    """One attribute of a profile as the API shows it (None when the customer has none)."""
    if name == "followed_days":
        # whole days, rounded down: the value the condition compares (API.md)
        return None if p.followed_ms is None else max(0, (now_ms - p.followed_ms) // DAY_MS)
    if name in ("first_order_at", "last_order_at"):
        ms = p.first_order_ms if name == "first_order_at" else p.last_order_ms
        return None if ms is None else iso(ms)
    if name == "is_follower":
        return p.follows
    value = getattr(p, name)
    if isinstance(value, Decimal):
        return str(value.quantize(CENT, ROUND_HALF_UP))
    return value
