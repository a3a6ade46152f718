"""Segments: which customers are in a rule or a segment now.

The interface other areas build on (tags bulk and health, plan audiences, customer lists):
``validate_rule``, ``matching_ids``, ``segment_members``, ``audience_members``,
``segment_sizes``, ``shop_sizes``, ``filtered_page``, ``tag_tally``, ``segment_exists`` and, for one
customer at a time (event-driven tag rules), ``compile_rule``. A rule is validated once per
call (segment references expanded, tag names resolved to ids) and then decided over the
seller's ``Population`` (population.py): the columnar snapshot plus every customer changed
since it, read from the table, so a write that has returned is always seen.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from chalicelib.domain import aggregates, builtins, reuse, rules
from chalicelib.domain import explain as why
from chalicelib.domain.compiler import Compiler, Predicate
from chalicelib.domain.errors import Invalid, NotFound
from chalicelib.domain.ids import is_id
from chalicelib.domain.profile import from_record
from chalicelib.domain.tags import norm_name
from chalicelib.store import customers as repo
from chalicelib.store import segments as segment_store
from chalicelib.store import tags as tag_store
from chalicelib.store.customers import CustomerItem

from .population import Population

ItemPredicate = Callable[[CustomerItem], bool]
MAX_ID = 256


class Catalogue:
    """One seller's segments and tags, read once per request; the compiler's resolver."""

    def __init__(self, seller_id: str) -> None:
        self.seller_id = seller_id
        self._custom: dict[str, segment_store.SegmentItem] | None = None
        self._tags: list | None = None

    @property
    def custom(self) -> dict[str, segment_store.SegmentItem]:
        if self._custom is None:
            self._custom = {s.segment_id: s for s in segment_store.all_segments(self.seller_id)}
        return self._custom

    @property
    def tag_items(self) -> list:
        if self._tags is None:
            self._tags = tag_store.all_tags(self.seller_id)
        return self._tags

    def exists(self, segment_id: str) -> bool:
        return segment_id in builtins.BUILTIN_RULES or segment_id in self.custom

    def segment(self, segment_id: str) -> dict | None:
        if segment_id in builtins.BUILTIN_RULES:
            return builtins.BUILTIN_RULES[segment_id]
        item = self.custom.get(segment_id)
        return item.rule if item is not None else None

    def tag_id(self, name: str) -> str | None:
        wanted = norm_name(name)
        return next((t.tag_id for t in self.tag_items if t.norm == wanted), None)

    def tag_names(self) -> dict[str, str]:
        return {t.tag_id: t.name for t in self.tag_items}

    def reuse_graph(self) -> dict[str, set[str]]:
        """Segment id -> the segment ids its rule reuses directly (built-ins reuse none)."""
        return {**{b: set() for b in builtins.BUILTIN_RULES},
                **{k: set(v.refs) if v.refs else rules.references(v.rule)
                   for k, v in self.custom.items()}}


# ----- the interface others depend on ---------------------------------------------------

def validate_rule(seller_id: str, rule: dict, path: str = "rule", *, editing: str | None = None,
                  catalogue: Catalogue | None = None) -> tuple[dict, list[str]]:
    """Check a rule against the grammar and this seller's segments and tags.

    Returns (normalised rule, warnings); raises ``Invalid`` whose details name each bad node
    by JSON path under ``path`` (unknown segment ids, ``{"segment": id}`` cycles, unknown
    tag names included). ``editing`` is the segment whose rule this is, for cycle checks.
    """
    parsed = rules.parse(rule, path)
    cat = catalogue or Catalogue(seller_id)
    problems = list(parsed.problems)
    problems += [{"path": p, "message": f"unknown segment '{s}'"}
                for p, s in parsed.segment_refs if not cat.exists(s)]
    problems += [{"path": p, "message": f"unknown tag '{n}'"}
                 for p, n in parsed.tag_names if cat.tag_id(n) is None]
    known_ids = {t.tag_id for t in cat.tag_items} if parsed.tag_ids else set()
    problems += [{"path": p, "message": f"unknown tag id '{t}'"}
                 for p, t in parsed.tag_ids if t not in known_ids]
    if not problems and parsed.segment_refs:
        problems += _reuse_problems(parsed.segment_refs, cat, editing)
    if problems:
        unknown_tags = [d["message"] for d in problems if "unknown tag" in d["message"]]
        raise Invalid("rule is not valid" + (": " + "; ".join(unknown_tags) if unknown_tags else ""),
                      problems)
    return parsed.rule, rules.warnings_for(parsed)


def _reuse_problems(segment_refs: list[tuple[str, str]], cat: Catalogue, editing: str | None
                    ) -> list[dict]:
    """A ``{"segment"}`` cycle, or a chain of reused segments too deep or too wide."""
    start = {s for _, s in segment_refs}
    graph = cat.reuse_graph()
    chain = reuse.find_cycle(start, lambda seg: graph.get(seg, ()), editing)
    if chain:
        where = next(p for p, s in segment_refs if s == chain[0])
        shown = " -> ".join([editing, *chain] if editing else chain)
        return [{"path": where, "message": f"segments reuse each other in a cycle: {shown}"}]
    problem = reuse.reuse_problem(start, graph, editing)
    if problem:
        where = next(p for p, s in segment_refs if s == problem.reference)
        return [{"path": where, "message": problem.message}]
    return []


def compile_rule(seller_id: str, rule: dict, now: datetime) -> ItemPredicate:
    """Validate, resolve segment references and tag names once; a fast predicate over items."""
    keep = compile_profiles(seller_id, rule, now)
    return lambda item: keep(from_record(item))


def matching_ids(seller_id: str, rule: dict, now: datetime) -> list[str]:
    """Every customer id of the seller that matches the rule now, ascending."""
    cat = Catalogue(seller_id)
    normalised, _ = validate_rule(seller_id, rule, catalogue=cat)
    return population(cat, now).members(normalised)


def segment_members(seller_id: str, segment_ids: list[str], now: datetime) -> set[str]:
    """The union of the members of built-in and/or custom segments (NotFound if one is unknown)."""
    if not segment_ids:
        return set()
    cat = Catalogue(seller_id)
    for s in segment_ids:
        if not cat.exists(s):
            raise NotFound(f"segment '{s}' not found")
    return set(population(cat, now).members(_union(segment_ids)))


def audience_members(seller_id: str, audience: dict, now: datetime) -> list[str]:
    """A plan's audience now, ascending: the union of ``segment_ids``, narrowed by the
    ``tags`` filter, minus ``exclude_segment_ids``. A segment deleted since the plan was made
    contributes (or excludes) nobody, rather than failing the dispatch."""
    cat = Catalogue(seller_id)
    wanted = [s for s in audience.get("segment_ids") or [] if cat.exists(s)]
    if not wanted:
        return []
    parts = [_union(wanted)]
    if audience.get("tags"):
        tags, _ = validate_rule(seller_id, {"tags": audience["tags"]}, "audience.tags",
                                catalogue=cat)
        parts.append(tags)
    excluded = [s for s in audience.get("exclude_segment_ids") or [] if cat.exists(s)]
    if excluded:
        parts.append({"not": _union(excluded)})
    return population(cat, now).members(parts[0] if len(parts) == 1 else {"all": parts})


def segment_exists(seller_id: str, segment_id: str) -> bool:
    if segment_id in builtins.BUILTIN_RULES:
        return True
    return 0 < len(segment_id) <= MAX_ID and segment_store.get(seller_id, segment_id) is not None


def segment_sizes(seller_id: str, segment_ids: list[str], now: datetime,
                  catalogue: Catalogue | None = None) -> dict[str, int]:
    """The member count now of each segment (built-in or custom), in one read."""
    cat = catalogue or Catalogue(seller_id)
    return population(cat, now).sizes({s: {"segment": s} for s in dict.fromkeys(segment_ids)})


def shop_sizes(seller_id: str, now: datetime) -> tuple[int, dict[str, int]]:
    """(customers now, the member count now of each built-in segment), over one population
    read (the overview's ``customers`` and ``segments``)."""
    people = population(Catalogue(seller_id), now)
    return people.count(), people.sizes({s: {"segment": s} for s in builtins.BUILTIN_RULES})


def filtered_page(seller_id: str, segment_id: str | None, tag: str | None, limit: int,
                  cursor: dict | None, now: datetime) -> tuple[list[str], dict | None]:
    """A page of the ids of the customers in a segment and/or carrying a tag (GET
    /v1/customers?segment_id=&tag=), ascending; the cursor is the last id returned."""
    cat = Catalogue(seller_id)
    parts: list[dict] = []
    if segment_id is not None:
        if not cat.exists(segment_id):
            raise NotFound(f"segment '{segment_id}' not found")
        parts.append({"segment": segment_id})
    if tag is not None:
        # An unknown tag name lists nobody (a filter, not a rule to validate).
        tag_id = cat.tag_id(tag)
        parts.append({"tag_ids": {"any": [tag_id or " unknown"]}})
    return _page(population(cat, now), parts[0] if len(parts) == 1 else {"all": parts},
                 limit, cursor)


def tag_tally(seller_id: str, stale_cutoff_ms: int, now: datetime
              ) -> tuple[int, dict[str, Any]]:
    """(customer count, per tag id its customers and stale customers): tags health."""
    return population(Catalogue(seller_id), now).tag_tally(stale_cutoff_ms)


def _union(segment_ids: list[str]) -> dict:
    nodes = [{"segment": s} for s in dict.fromkeys(segment_ids)]
    return nodes[0] if len(nodes) == 1 else {"any": nodes}


def _page(people: Population, rule: dict, limit: int, cursor: dict | None
          ) -> tuple[list[str], dict | None]:
    after = (cursor or {}).get("a")
    if cursor is not None and (set(cursor) != {"a"} or not is_id(after)):
        raise Invalid("cursor is not valid", [{"path": "cursor", "message": "invalid cursor"}])
    ids, more = people.page(rule, after, limit)
    return ids, ({"a": ids[-1]} if more and ids else None)


def population(cat: Catalogue, now: datetime) -> Population:
    """The seller's customers as a read sees them now (snapshot + what changed since)."""
    return Population.now(cat.seller_id, cat, aggregates.to_ms(now))


# ----- building blocks ------------------------------------------------------------------

def compile_profiles(seller_id: str, rule: dict, now: datetime,
                     catalogue: Catalogue | None = None) -> Predicate:
    """Like ``compile_rule`` but over ``Profile``s (what the engine evaluates)."""
    cat = catalogue or Catalogue(seller_id)
    normalised, _ = validate_rule(seller_id, rule, catalogue=cat)
    return Compiler(aggregates.to_ms(now), cat).compile(normalised)


def segment_predicate(cat: Catalogue, compiler: Compiler, segment_id: str) -> Predicate:
    if not cat.exists(segment_id):
        raise NotFound(f"segment '{segment_id}' not found")
    return compiler.segment(segment_id)


def stored_form(rule: dict, cat: Catalogue) -> dict:
    """A normalised rule with tag names replaced by ids (what a segment item keeps)."""
    def to_ids(node: dict) -> dict:
        if "tag_ids" in node:
            return node
        mode, names = next(iter(node["tags"].items()))
        return {"tag_ids": {mode: [cat.tag_id(n) for n in names]}}
    return rules.replace_tags(rule, to_ids)


def display_form(rule: dict, names: dict[str, str]) -> dict:
    """A stored rule as the seller wrote it: tags by their current names. A tag deleted since
    drops out of the list (it is on nobody any more, so the rule behaves the same)."""
    def to_names(node: dict) -> dict:
        if "tags" in node:
            return node
        mode, ids = next(iter(node["tag_ids"].items()))
        return {"tags": {mode: [names[t] for t in ids if t in names]}}
    return rules.replace_tags(rule, to_names)


# ----- preview, members, insights, explain ----------------------------------------------

def preview(seller_id: str, rule: dict, now: datetime, sample_size: int) -> dict:
    """Size now and a sample of members (the smallest ids)."""
    cat = Catalogue(seller_id)
    normalised, warnings = validate_rule(seller_id, rule, catalogue=cat)
    size, sample = population(cat, now).preview(normalised, sample_size)
    return {"size": size, "sample": sample, "warnings": warnings}


def members_page(seller_id: str, segment_id: str, limit: int, cursor: dict | None,
                 now: datetime) -> tuple[list[dict], dict | None]:
    """A page of a segment's members in customer id order; the cursor is the last member
    returned, so every member appears exactly once across pages."""
    cat = Catalogue(seller_id)
    if not cat.exists(segment_id):
        raise NotFound(f"segment '{segment_id}' not found")
    ids, state = _page(population(cat, now), {"segment": segment_id}, limit, cursor)
    return [{"customer_id": c} for c in ids], state


def insights(seller_id: str, segment_id: str, now: datetime) -> dict:
    cat = Catalogue(seller_id)
    if not cat.exists(segment_id):
        raise NotFound(f"segment '{segment_id}' not found")
    return {"segment_id": segment_id, **population(cat, now).insights({"segment": segment_id})}


def explain(seller_id: str, segment_id: str, customer_id: str, now: datetime) -> dict:
    cat = Catalogue(seller_id)
    if not cat.exists(segment_id):
        raise NotFound(f"segment '{segment_id}' not found")
    # Ids longer than any id can be (events and PUT take 128) never reach DynamoDB, whose
    # key size limit would turn them into a server error.
    item = repo.get(seller_id, customer_id) if 0 < len(customer_id) <= MAX_ID else None
    if item is None:
        raise NotFound(f"customer '{customer_id}' not found")
    names = cat.tag_names()
    member, conditions = why.explain(
        cat.segment(segment_id) or {}, from_record(item), Compiler(aggregates.to_ms(now), cat),
        lambda node: display_form(node, names), names)
    return {"segment_id": segment_id, "customer_id": customer_id, "member": member,
            "conditions": conditions}
