"""The columnar back end of the rule compiler: a normalised rule (rules.py) as ONE vectorised
SQL predicate over a per-seller snapshot with one row per customer (docs/segments.md,
"Columnar back end").

Pure: this module only produces text and values. ``LAYOUT`` is the snapshot's columns and
DuckDB types, ``row_of`` turns a ``Profile`` into one row of them (so the snapshot holds
exactly what the item predicate of compiler.py reads), and ``compile_sql`` turns a rule
into ``(where, params)``. Running it is chalicelib/columnar.py's job.

    where, params = compile_sql(rule, now_ms, resolver)
    con.execute(f"SELECT customer_id FROM snapshot WHERE {where}", params)

Both back ends give the same set of customers for every rule (tests/unit/test_columnar.py
proves it over random rules and histories). Only whole numbers are written into the SQL
text (windows, counts, cents); every string (regions, tags, genders, languages, plan ids)
is a ``?`` parameter, except inside list lambdas, where DuckDB takes no parameters and the
only strings are validated plan ids, quoted by ``_quote``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

from chalicelib.domain import compiler as items
from chalicelib.domain.aggregates import DAY_MS, RECENT_PER_TYPE
from chalicelib.domain.compiler import Compiler, Resolver
from chalicelib.domain.events import CUSTOMER_EVENT_TYPES
from chalicelib.domain.profile import Profile, from_record
from chalicelib.domain.rules import GROUPS
from chalicelib.domain.tags import last_interaction

# Types whose history is kept as recent times + daily counts. ``order_paid`` is read from the
# exact per-order record instead (aggregates.apply keeps no recent times for it).
HISTORY_TYPES: tuple[str, ...] = tuple(sorted(CUSTOMER_EVENT_TYPES - {"order_paid"}))
_DAY = "STRUCT(d INTEGER, n INTEGER)[]"
_ORDER = "STRUCT(t BIGINT, c BIGINT)[]"
_PLAN = "STRUCT(p VARCHAR, e VARCHAR, t BIGINT[])[]"

LAYOUT: tuple[tuple[str, str], ...] = (
    ("customer_id", "VARCHAR"),
    ("age", "INTEGER"),
    ("gender", "VARCHAR"),
    ("region_key", "VARCHAR"),        # trimmed, inner spaces collapsed, casefolded
    ("language", "VARCHAR"),          # the BCP-47 tag as stored
    ("lang_key", "VARCHAR"),          # casefolded BCP-47 tag
    ("lang_primary", "VARCHAR"),      # its primary subtag
    ("tags", "VARCHAR[]"),            # tag ids
    ("follows", "BOOLEAN"),
    ("followed_ms", "BIGINT"),        # the first follow after the latest unfollow
    ("order_count", "BIGINT"),
    ("total_cents", "BIGINT"),        # total paid in cents (amounts have 2 decimals)
    ("avg_num", "BIGINT"),            # avg_order_value = avg_num / avg_den, exactly
    ("avg_den", "BIGINT"),
    ("first_order_ms", "BIGINT"),
    ("last_order_ms", "BIGINT"),
    ("orders", _ORDER),               # counted orders (paid, not refunded): time, cents
    ("orders_last", "BIGINT"),        # the latest of them
    ("paid", "BIGINT[]"),             # every paid time, refunded orders too (order_paid)
    ("paid_last", "BIGINT"),
    ("plans", _PLAN),                 # per plan and type: exact recent times
    # per history type: the exact recent times, their latest, and the older whole-day counts
    # with their latest day (the latest values let most rows skip the lists entirely)
    *((c, t) for e in HISTORY_TYPES
      for c, t in ((f"t_{e}", "BIGINT[]"), (f"l_{e}", "BIGINT"), (f"d_{e}", _DAY),
                   (f"m_{e}", "INTEGER"))),
    # The snapshot's bookkeeping (docs/segments.md, "Snapshot and read-your-writes") and what
    # insights and tag health read besides the rule's fields.
    ("region", "VARCHAR"),            # the region as stored (insights show it)
    ("changed_at", "BIGINT"),         # the item's changed_at and version when it was read
    ("version", "BIGINT"),
    ("created_at", "BIGINT"),         # when the customer item was created (ms)
    ("seen_ms", "BIGINT"),            # the latest thing the customer did (tags.last_interaction)
    ("tag_text", "VARCHAR"),          # "|id1|id2|": tag conditions read this, not the list
)
COLUMNS: tuple[str, ...] = tuple(c for c, _ in LAYOUT)
# The latest kept event time of a snapshot (per type, as the l_ columns hold it).
LATEST_SQL = ("max(greatest(" + ", ".join(f"l_{e}" for e in HISTORY_TYPES)
              + ", orders_last, paid_last))")


def _cents(amount: Decimal) -> int:
    cents = amount * 100
    if cents != cents.to_integral_value():
        raise ValueError(f"an amount with more than 2 decimals: {amount}")
    return int(cents)


def row_of_record(record: Any) -> tuple:
    """The snapshot row of anything shaped like a customer item (profile.from_record)."""
    return row_of(from_record(record), int(getattr(record, "changed_at", 0) or 0),
                  int(getattr(record, "version", 0) or 0),
                  created_at=int(getattr(record, "created_at", 0) or 0),
                  seen_ms=last_interaction(record.agg))


def row_of(p: Profile, changed_at: int | None = None, version: int | None = None, *,
           created_at: int | None = None, seen_ms: int | None = None) -> tuple:
    """One snapshot row (in ``COLUMNS`` order) holding what the item predicate reads, and
    the item's ``changed_at`` and ``version`` when it came from one (the snapshot keeps,
    per customer, the row of the highest version)."""
    orders = [{"t": t, "c": _cents(a)} for t, a in zip(p.order_times, p.order_amounts, strict=True)]
    plans = [{"p": plan, "e": etype, "t": list(ts)}
             for plan, per_type in p.plans.items() for etype, ts in per_type.items() if ts]
    lang_key = " ".join(p.language.split()).casefold() if p.language else None
    avg = p.avg_order_value
    if avg is None:
        avg_num = avg_den = None
    elif avg * 100 == (avg * 100).to_integral_value():   # as the profile holds it: cents
        avg_num, avg_den = int(avg * 100), 100
    else:                                                # total / count, unrounded
        avg_num, avg_den = _cents(p.total_paid), 100 * p.order_count
    out: list[Any] = [
        p.customer_id, p.age, p.gender, p.region_key, p.language or None, lang_key,
        lang_key.split("-")[0] if lang_key else None,
        sorted(p.tags) or None, bool(p.follows), p.followed_ms, p.order_count,
        _cents(p.total_paid), avg_num, avg_den, p.first_order_ms, p.last_order_ms,
        orders or None, p.order_times[-1] if p.order_times else None,
        list(p.paid_times) or None, p.paid_times[-1] if p.paid_times else None, plans or None]
    for etype in HISTORY_TYPES:
        times = p.times.get(etype) or None
        daily = (p.daily or {}).get(etype) or {}
        days = sorted((int(d), int(n)) for d, n in daily.items())
        out += [sorted(times) if times else None, max(times) if times else None,
                [{"d": d, "n": n} for d, n in days] or None, days[-1][0] if days else None]
    out += [p.region, changed_at, version, created_at, seen_ms, _tag_text(p.tags)]
    return tuple(out)


def _tag_text(tags: frozenset[str]) -> str | None:
    """Tag ids as one delimited string: a substring test on it is ~5x faster than a list
    test (the list must be decoded for every row); ids never hold "|" (domain/ids.py)."""
    return "|" + "|".join(sorted(tags)) + "|" if tags else None


def rows(profiles: Any) -> Iterator[tuple]:
    return (row_of(p) for p in profiles)


# ----- rule -> SQL ----------------------------------------------------------------------

def first_whole_day(since_ms: int) -> int:
    """The first UTC day lying wholly at or after ``since_ms``: a daily count is for a whole
    day, so the far edge's partial day never counts (API.md, Segments, "Precisely")."""
    return -(-since_ms // DAY_MS)


def last_whole_day(until_ms: int) -> int:
    """The last UTC day lying wholly at or before ``until_ms`` (today is not, until midnight)."""
    return (until_ms + 1) // DAY_MS - 1


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _fraction(value: Any) -> tuple[int, int]:
    """A decimal as (p, k) with value == p / 10**k exactly (k at most 16, which no amount
    of money reaches; a longer value is rounded half-even to 16 places)."""
    d = Decimal(str(value)).normalize()
    exp = d.as_tuple().exponent
    k = max(0, -int(exp)) if isinstance(exp, int) else 0
    if k > 16:
        d, k = d.quantize(Decimal(1).scaleb(-16)), 16
    return int(d.scaleb(k)), k


class SqlCompiler:
    """Compiles a rule for one ``now`` into SQL; params are collected in text order."""

    def __init__(self, now_ms: int, resolver: Resolver, latest_ms: int | None = None) -> None:
        self.now_ms = now_ms
        self.resolver = resolver
        # No kept event time of the snapshot is after now: "at least once" conditions are
        # then decided by the latest time and day columns alone, without reading any list.
        self.nothing_after_now = latest_ms is not None and latest_ms <= now_ms
        self.params: list[Any] = []
        self._items = Compiler(now_ms, resolver)   # tag resolution, time values: one truth
        self._visiting: set[str] = set()
        self._segments: dict[str, tuple[str, list[Any]]] = {}

    def param(self, value: Any, cast: str) -> str:
        self.params.append(value)
        return f"?::{cast}"

    def compile(self, node: dict) -> str:
        if "all" in node:
            return "(" + " AND ".join(self.compile(c) for c in node["all"]) + ")"
        if "any" in node:
            return "(" + " OR ".join(self.compile(c) for c in node["any"]) + ")"
        if "not" in node:
            return f"(NOT {self.compile(node['not'])})"
        if "segment" in node:
            return self.segment(node["segment"])
        # Every leaf is TRUE or FALSE, never NULL, so NOT and OR mean what they say.
        if "attr" in node:
            return f"coalesce({self.attr(node)}, FALSE)"
        if "event" in node:
            return f"coalesce({self.event(node)}, FALSE)"
        return f"coalesce({self.tags(node)}, FALSE)"

    def segment(self, segment_id: str) -> str:
        """A reused segment's rule, inlined (compiled once; its text and parameters are
        repeated where it is named again)."""
        done = self._segments.get(segment_id)
        if done is not None:
            self.params.extend(done[1])
            return done[0]
        rule = self.resolver.segment(segment_id)
        if rule is None or segment_id in self._visiting:
            return "FALSE"    # a reference gone missing or looping since it was saved
        self._visiting.add(segment_id)
        start = len(self.params)
        try:
            text = self.compile(rule)
        finally:
            self._visiting.discard(segment_id)
        self._segments[segment_id] = (text, self.params[start:])
        return text

    def tags(self, node: dict) -> str:
        mode, wanted = self._items.tag_set(node)
        has = [f"contains(tag_text, {self.param(f'|{t}|', 'VARCHAR')})" for t in sorted(wanted)]
        if mode == "all":
            return "coalesce(" + " AND ".join(has) + ", FALSE)"
        found = "coalesce(" + " OR ".join(has) + ", FALSE)"
        return found if mode == "any" else f"NOT {found}"

    # ----- events ------------------------------------------------------------------------

    def event(self, node: dict) -> str:
        since, until = self.now_ms - node["within_days"] * DAY_MS, self.now_ms
        lo, hi = node["count"].get("gte"), node["count"].get("lte")
        if lo == 1 and hi is None and "amount" not in node and "plan_id" not in node \
                and node["event"] not in ("order", "order_paid"):
            cond = self._any_in_window(node["event"], since, until)
        elif lo == 1 and hi is None and "amount" not in node and self.nothing_after_now \
                and node["event"] in ("order", "order_paid"):
            # No order after now: the latest one decides (it is exact, never a day count).
            last = "orders_last" if node["event"] == "order" else "paid_last"
            cond = f"coalesce({last} >= {since}, FALSE)"
        else:
            cond = _in_range(self._count(node, since, until), lo, hi)
        if "amount" not in node:
            return cond
        paid = (f"coalesce(list_sum(list_transform(list_filter(orders, lambda o: o.t BETWEEN "
                f"{since} AND {until}), lambda o: o.c)), 0)")
        return f"({cond} AND {_money_range(paid, node['amount'])})"

    def _count(self, node: dict, since: int, until: int) -> str:
        etype = node["event"]
        if etype == "order":
            return (f"(CASE WHEN orders_last IS NULL OR orders_last < {since} THEN 0 ELSE "
                    f"len(list_filter(orders, lambda o: o.t BETWEEN {since} AND {until})) END)")
        if etype == "order_paid":
            # Like every other type (compiler.event_counter): the RECENT_PER_TYPE most recent
            # paid times exactly, the older ones by whole UTC days inside the window.
            keep, day, last = RECENT_PER_TYPE, first_whole_day(since), last_whole_day(until)
            recent = (f"len(list_filter(list_slice(paid, greatest(len(paid) - {keep - 1}, 1), "
                      f"len(paid)), lambda o: o BETWEEN {since} AND {until}))")
            older = (f"len(list_filter(list_slice(paid, 1, len(paid) - {keep}), "
                     f"lambda o: o // {DAY_MS} BETWEEN {day} AND {last}))")
            return (f"(CASE WHEN paid_last IS NULL OR paid_last < {since} THEN 0 ELSE "
                    f"{recent} + {older} END)")
        if "plan_id" in node:
            plan, kind = _quote(node["plan_id"]), _quote(etype)
            return (f"coalesce(list_sum(list_transform(list_filter(plans, lambda x: x.p = {plan} "
                    f"AND x.e = {kind}), lambda x: len(list_filter(x.t, lambda v: v BETWEEN "
                    f"{since} AND {until})))), 0)")
        return "(" + " + ".join(self._type_count(t, since, until)
                                for t in GROUPS.get(etype, (etype,))) + ")"

    def _type_count(self, etype: str, since: int, until: int) -> str:
        if etype not in HISTORY_TYPES:
            return "0"
        return (f"(CASE WHEN {self._none_in_window(etype, since)} THEN 0 ELSE "
                f"{self._full_count(etype, since, until)} END)")

    def _none_in_window(self, etype: str, since: int) -> str:
        # Every kept time is at most l_, every counted day starts at or after ``since``.
        day = first_whole_day(since)
        return f"(coalesce(l_{etype} < {since}, TRUE) AND coalesce(m_{etype} < {day}, TRUE))"

    def _full_count(self, etype: str, since: int, until: int) -> str:
        day = first_whole_day(since)
        last = last_whole_day(until)
        return (f"(coalesce(len(list_filter(t_{etype}, lambda v: v BETWEEN {since} AND {until})), 0)"
                f" + coalesce(list_sum(list_transform(list_filter(d_{etype}, lambda c: c.d BETWEEN "
                f"{day} AND {last}), lambda c: c.n)), 0))")

    def _any_in_window(self, etype: str, since: int, until: int) -> str:
        parts = []
        for t in GROUPS.get(etype, (etype,)):
            if t not in HISTORY_TYPES:
                continue
            # With no kept time after ``until`` (no event in the future), the latest time
            # and the latest counted day decide alone; only otherwise are the lists read.
            day = first_whole_day(since)
            if self.nothing_after_now:
                # Day counts are older than every kept time (aggregates._add_time moves the
                # oldest out), so with l_ before the window no day in it can count either.
                parts.append(f"coalesce(l_{t} >= {since}, FALSE)")
                continue
            parts.append(f"(CASE WHEN l_{t} BETWEEN {since} AND {until} THEN TRUE "
                         f"WHEN coalesce(l_{t} < {since}, TRUE) THEN coalesce(m_{t} >= {day}, FALSE) "
                         f"ELSE {self._full_count(t, since, until)} >= 1 END)")
        return "(" + " OR ".join(parts) + ")" if parts else "FALSE"

    # ----- attributes --------------------------------------------------------------------

    def attr(self, node: dict) -> str:
        name, op, value = node["attr"], node["op"], node["value"]
        if name == "followed_days":
            return self._followed_days(op, value)
        if name == "language" and op != "exists" and items.ATTR_SLOTS["language"] == "lang_key":
            return self._language(op, value)    # the item predicate folds case and variants
        if name == "total_paid":
            return self._money_attr("total_cents", None, op, value)
        if name == "avg_order_value":
            return self._money_attr("avg_num", "avg_den", op, value)
        col = {"region": "region_key", "is_follower": "follows",
               "first_order_at": "first_order_ms", "last_order_at": "last_order_ms"}.get(name, name)
        if op == "exists":
            return f"({col} IS {'NOT ' if value else ''}NULL)"
        if name in ("gender", "region", "language"):
            fold = self._items._converter(name)    # the item predicate's own folding
            if op in ("in", "not_in"):
                listed = self.param(sorted({fold(v) for v in value}), "VARCHAR[]")
                return (f"list_contains({listed}, {col})" if op == "in"
                        else f"({col} IS NOT NULL AND NOT list_contains({listed}, {col}))")
            x = self.param(fold(value), "VARCHAR")
            return f"({col} = {x})" if op == "eq" else f"({col} IS NOT NULL AND {col} <> {x})"
        if name == "is_follower":
            return f"({col} = {'TRUE' if value else 'FALSE'})" if op == "eq" \
                else f"({col} <> {'TRUE' if value else 'FALSE'})"
        convert = self._items.time_ms if name in ("first_order_at", "last_order_at") else int
        if op == "between":
            lo, hi = sorted(convert(v) for v in value)
            return f"({col} BETWEEN {lo} AND {hi})"
        if op in ("in", "not_in"):
            listed = ", ".join(str(convert(v)) for v in sorted(set(value)))
            return f"({col} IN ({listed}))" if op == "in" else f"({col} NOT IN ({listed}))"
        sql_op = {"eq": "=", "ne": "<>", "gte": ">=", "lte": "<="}[op]
        return f"({col} {sql_op} {convert(value)})"

    def _money_attr(self, num: str, den: str | None, op: str, value: Any) -> str:
        """total_paid (cents, den None: /100) or avg_order_value (avg_num / avg_den, NULL
        without orders), compared exactly: num/den op p/10^k <=> num*10^k op p*den, in
        128-bit integers."""
        if op == "exists":
            if den is None:     # total_paid is 0.00 for a customer without orders
                return "TRUE" if value else "FALSE"
            return f"({den} IS {'NOT ' if value else ''}NULL)"

        def cmp(sql_op: str, x: Any) -> str:
            p, k = _fraction(x)
            right = f"({100 * p}::HUGEINT)" if den is None else f"({p}::HUGEINT * {den})"
            return f"(({num}::HUGEINT * {10 ** k}) {sql_op} {right})"
        guard = f"{den} IS NOT NULL AND " if den else ""
        if op == "between":
            lo, hi = sorted(Decimal(v) for v in value)
            return f"({guard}{cmp('>=', lo)} AND {cmp('<=', hi)})"
        if op in ("in", "not_in"):
            anyof = " OR ".join(cmp("=", v) for v in value)
            return f"({guard}({anyof}))" if op == "in" else f"({guard}NOT ({anyof}))"
        sql_op = {"eq": "=", "ne": "<>", "gte": ">=", "lte": "<="}[op]
        return f"({guard}{cmp(sql_op, value)})"

    def _followed_days(self, op: str, value: Any) -> str:
        # The item compiler's bounds (compiler.Compiler._followed_days): whole days since the
        # follow, rounded down; days >= k  <=>  f <= now - k days;  days <= k  <=>
        # f > now - (k + 1) days; a follow up to 5 minutes ahead is 0 days.
        if op == "exists":
            return f"(followed_ms IS {'NOT ' if value else ''}NULL)"
        now = self.now_ms
        low, high = {"gte": (value, None), "lte": (None, value)}.get(op, value)
        oldest = None if high is None else now - (math.floor(high) + 1) * DAY_MS + 1
        newest = None if low is None or math.ceil(low) <= 0 else now - math.ceil(low) * DAY_MS
        bounds = ["followed_ms IS NOT NULL"]
        if oldest is not None:
            bounds.append(f"followed_ms >= {oldest}")
        if newest is not None:
            bounds.append(f"followed_ms <= {newest}")
        return "(" + " AND ".join(bounds) + ")"

    def _language(self, op: str, value: Any) -> str:
        values = value if isinstance(value, list) else [value]
        full = self.param(sorted({v.casefold() for v in values if "-" in v}), "VARCHAR[]")
        primary = self.param(sorted({v.casefold() for v in values if "-" not in v}), "VARCHAR[]")
        matches = f"(list_contains({full}, lang_key) OR list_contains({primary}, lang_primary))"
        if op in ("eq", "in"):
            return f"(lang_key IS NOT NULL AND {matches})"
        return f"(lang_key IS NOT NULL AND NOT {matches})"


def _in_range(expr: str, lo: int | None, hi: int | None) -> str:
    if lo is not None and hi is not None:
        return f"({expr} BETWEEN {lo} AND {hi})"
    if lo is not None:
        return "TRUE" if lo == 0 else f"({expr} >= {lo})"
    return f"({expr} <= {hi})" if hi is not None else "TRUE"


def _money_range(cents_expr: str, bounds: dict) -> str:
    """A sum of cents within {"gte", "lte"} money bounds, exactly (ceil / floor to cents)."""
    parts = []
    if "gte" in bounds:
        parts.append(f"{cents_expr} >= {math.ceil(Decimal(bounds['gte']) * 100)}")
    if "lte" in bounds:
        parts.append(f"{cents_expr} <= {math.floor(Decimal(bounds['lte']) * 100)}")
    return "(" + " AND ".join(parts) + ")"


def compile_sql(rule: dict, now_ms: int, resolver: Resolver, latest_ms: int | None = None
                ) -> tuple[str, list[Any]]:
    """``(where, params)``: a SQL boolean over one snapshot row, true when the customer is in
    the rule at ``now_ms`` (the same answer as compiler.compile_rule). ``latest_ms``, when
    known, is the latest kept event time of the whole snapshot (``LATEST_SQL``)."""
    c = SqlCompiler(now_ms, resolver, latest_ms)
    return c.compile(rule), c.params


__all__ = ["COLUMNS", "HISTORY_TYPES", "LATEST_SQL", "LAYOUT", "SqlCompiler", "compile_sql",
           "first_whole_day", "row_of", "rows"]
