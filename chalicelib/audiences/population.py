"""A seller's customers as an audience read sees them now: the columnar snapshot for those
unchanged since its watermarks, the customers table for the rest (docs/segments.md,
"Snapshot and read-your-writes").

    people = Population.now(seller_id, resolver, now_ms)
    size, sample = people.preview(rule, 20)

Every read is exact whatever the snapshot's lag: the customers changed since a shard's
watermark (less a margin) are read from the table with a strongly consistent query, decided
by the item predicate (domain/compiler.py, the reference), and left out of the snapshot's
rows, which the columnar back end (domain/columnar.py) decides in one vectorised query. The
two back ends agree on every rule and history (tests/unit/test_columnar.py), so where a
customer is read from changes only the cost. A seller with no snapshot yet is read wholly
from the table (today's item scan).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from chalicelib import columnar as engine
from chalicelib.domain import columnar as sql
from chalicelib.domain import insights as summary
from chalicelib.domain import tags as tag_domain
from chalicelib.domain.compiler import Compiler, Resolver
from chalicelib.domain.profile import Profile, from_record
from chalicelib.store import segments as segment_store
from chalicelib.store import snapshots


class Population:
    """The snapshot (or none) plus the profiles read from the table (``fresh``)."""

    def __init__(self, resolver: Resolver, now_ms: int, snapshot: snapshots.Snapshot | None,
                 fresh: Iterable[Profile], extra: Mapping[str, tuple[int, int | None]] | None = None
                 ) -> None:
        self.resolver, self.now_ms, self.snapshot = resolver, now_ms, snapshot
        self.fresh: dict[str, Profile] = {p.customer_id: p for p in fresh}
        # (created ms, latest interaction ms) of the fresh customers, for tag health.
        self.extra = dict(extra or {})
        self.compiler = Compiler(now_ms, resolver)

    @classmethod
    def now(cls, seller_id: str, resolver: Resolver, now_ms: int) -> Population:
        snap = snapshots.current(seller_id)
        if snap is None:
            items: Iterable = segment_store.customers(seller_id)
        else:
            # Changed since the watermarks (less the margin) and not already in the files
            # at that version: read fresh. The rest the snapshot holds as it is now.
            changed = snapshots.changed_versions(seller_id, snap.marks)
            held = engine.versions_held(snap.files, changed)
            items = snapshots.read_changed(seller_id, {
                c: shard for c, (shard, version) in changed.items() if held.get(c) != version})
        fresh, extra = [], {}
        for item in items:
            fresh.append(from_record(item))
            extra[item.customer_id] = (int(getattr(item, "created_at", 0) or 0),
                                       tag_domain.last_interaction(item.agg))
        return cls(resolver, now_ms, snap, fresh, extra)

    # ----- the two back ends -------------------------------------------------------------

    @contextmanager
    def _rows(self) -> Iterator[tuple[Any, str] | None]:
        """(cursor, SQL source) of the snapshot's rows not read fresh; None without one."""
        if self.snapshot is None or not self.snapshot.files:
            yield None
            return
        cur = engine.engine()
        try:
            yield cur, engine.open_source(cur, self.snapshot.files, self.fresh)
        finally:
            cur.close()

    def _where(self, rule: dict) -> tuple[str, list[Any]]:
        latest = self.snapshot.latest_ms if self.snapshot else None
        return sql.compile_sql(rule, self.now_ms, self.resolver, latest)

    def _fresh_members(self, rule: dict) -> list[str]:
        keep = self.compiler.compile(rule)
        return sorted(cid for cid, p in self.fresh.items() if keep(p))

    # ----- reads -------------------------------------------------------------------------

    def members(self, rule: dict) -> list[str]:
        """Every member's id, ascending."""
        found = self._fresh_members(rule)
        with self._rows() as rows:
            if rows is None:
                return found
            cur, src = rows
            where, params = self._where(rule)
            snap = [r[0] for r in cur.execute(
                f"SELECT customer_id FROM {src} WHERE {where} ORDER BY customer_id",
                params).fetchall()]
        return list(heapq.merge(snap, found))

    def preview(self, rule: dict, sample_size: int) -> tuple[int, list[str]]:
        """(size, the ``sample_size`` smallest member ids)."""
        found = self._fresh_members(rule)
        with self._rows() as rows:
            if rows is None:
                return len(found), found[:sample_size]
            cur, src = rows
            where, params = self._where(rule)
            some = (f"coalesce(min(customer_id, {int(sample_size)}), [])" if sample_size > 0
                    else "[]::VARCHAR[]")     # DuckDB's min(x, n) needs n > 0
            size, sample = cur.execute(f"SELECT count(*), {some} FROM {src} WHERE {where}",
                                       params).fetchone()
        return size + len(found), sorted([*sample, *found])[:sample_size]

    def page(self, rule: dict, after: str | None, limit: int) -> tuple[list[str], bool]:
        """The first ``limit`` member ids above ``after``, ascending, and whether more follow."""
        found = [c for c in self._fresh_members(rule) if after is None or c > after]
        with self._rows() as rows:
            snap: list[str] = []
            if rows is not None:
                cur, src = rows
                where, params = self._where(rule)
                cond = f"({where}) AND customer_id > ?" if after is not None else where
                snap = [r[0] for r in cur.execute(
                    f"SELECT customer_id FROM {src} WHERE {cond} ORDER BY customer_id "
                    f"LIMIT {int(limit) + 1}", [*params, *([after] if after is not None else [])]
                ).fetchall()]
        merged = list(heapq.merge(snap, found))
        return merged[:limit], len(merged) > limit

    def sizes(self, rules: Mapping[str, dict]) -> dict[str, int]:
        """The member count of each rule, the snapshot read once for all of them."""
        out = {key: len(self._fresh_members(rule)) for key, rule in rules.items()}
        with self._rows() as rows:
            if rows is None or not rules:
                return out
            cur, src = rows
            parts, params = [], []
            for rule in rules.values():
                where, ps = self._where(rule)
                parts.append(f"count(*) FILTER (WHERE {where})")
                params += ps
            counts = cur.execute(f"SELECT {', '.join(parts)} FROM {src}", params).fetchone()
        return {key: out[key] + n for key, n in zip(rules, counts, strict=True)}

    def insights(self, rule: dict) -> dict:
        """The body of a segment's insights (domain/insights.py) over the rule's members."""
        tally = summary.Tally(self.now_ms)
        keep = self.compiler.compile(rule)
        for p in self.fresh.values():
            if keep(p):
                tally.add(p)
        with self._rows() as rows:
            if rows is not None:
                cur, src = rows
                where, params = self._where(rule)
                cur.execute("CREATE OR REPLACE TEMP TABLE picked AS SELECT follows, gender, age, "
                            f"region, language, orders FROM {src} WHERE {where}", params)
                size, followers = cur.execute(
                    "SELECT count(*), coalesce(count_if(follows), 0) FROM picked").fetchone()
                since = tally.since
                bands = [(name, None if below is None else int(below * 100))
                         for name, below in summary.PRICE_BANDS]
                band_sql = "CASE " + " ".join(f"WHEN c < {cents} THEN '{name}'"
                                              for name, cents in bands if cents is not None) \
                    + f" ELSE '{bands[-1][0]}' END"
                prices = dict(cur.execute(
                    f"SELECT {band_sql} AS band, count(*) FROM (SELECT o.c AS c FROM picked, "
                    f"unnest(orders) AS u(o) WHERE o.t BETWEEN {int(since)} AND "
                    f"{int(self.now_ms)}) GROUP BY band").fetchall())
                cents = cur.execute(
                    "SELECT coalesce(sum(o.c), 0) FROM picked, unnest(orders) AS u(o) "
                    f"WHERE o.t BETWEEN {int(since)} AND {int(self.now_ms)}").fetchone()[0]
                tally.merge(size, followers, self._group(cur, "gender"), self._group(cur, "age"),
                            self._group(cur, "region"), self._group(cur, "language"),
                            sum(prices.values()), Decimal(int(cents)) / 100, prices)
        return tally.result()

    @staticmethod
    def _group(cur: Any, column: str) -> dict:
        return dict(cur.execute(f"SELECT {column}, count(*) FROM picked GROUP BY {column} "
                                "ORDER BY count(*) DESC").fetchall())

    def tag_tally(self, stale_cutoff_ms: int) -> tuple[int, dict[str, tag_domain.TagStats]]:
        """(customer count, per tag id its customers and how many of them are stale), as
        domain/tags.py ``tally`` counts them."""
        per_tag: dict[str, tag_domain.TagStats] = {}
        total = len(self.fresh)
        for cid, p in self.fresh.items():
            created, seen = self.extra.get(cid, (0, None))
            stale = (seen if seen is not None else created) < stale_cutoff_ms
            for tag_id in p.tags:
                stats = per_tag.setdefault(tag_id, tag_domain.TagStats())
                stats.customers += 1
                stats.stale += stale
        with self._rows() as rows:
            if rows is not None:
                cur, src = rows
                total += cur.execute(f"SELECT count(*) FROM {src}").fetchone()[0]
                for tag_id, n, stale in cur.execute(
                        f"SELECT t, count(*), coalesce(count_if(coalesce(seen_ms, created_at) < ?), 0) "
                        f"FROM {src}, unnest(tags) AS u(t) GROUP BY t",
                        [stale_cutoff_ms]).fetchall():
                    stats = per_tag.setdefault(tag_id, tag_domain.TagStats())
                    stats.customers += n
                    stats.stale += stale
        return total, per_tag

    def count(self) -> int:
        with self._rows() as rows:
            snap = 0 if rows is None else rows[0].execute(
                f"SELECT count(*) FROM {rows[1]}").fetchone()[0]
        return snap + len(self.fresh)

