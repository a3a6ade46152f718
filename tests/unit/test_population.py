"""An audience read over a snapshot (a base and deltas in Parquet) plus the customers read
fresh from the table gives the answer of the item predicate over the customers as they are
now, wherever each customer's current version lives (audiences/population.py): the fresh
copy wins over every file, a later delta over an earlier one and over the base, and a
customer in no file and not fresh is nobody.
"""

from __future__ import annotations

import random
import tempfile

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from chalicelib import columnar as engine
from chalicelib.audiences.population import Population
from chalicelib.domain import builtins
from chalicelib.domain import columnar as layout
from chalicelib.domain import insights as summary
from chalicelib.domain import tags as tag_domain
from chalicelib.domain.compiler import compile_rule
from chalicelib.domain.profile import Profile
from chalicelib.store.snapshots import Snapshot
from tests.unit.segment_profiles import NOW_MS, agg_of, event, order
from tests.unit.test_columnar import Catalogue, _normalised, customer, raw_rule

STALE_CUTOFF = NOW_MS - tag_domain.STALE_DAYS * 86_400_000
# Where a customer's current version is: only in the base; in a delta over an older base
# row; in the latest delta over an older delta; read fresh over an older file row; fresh
# and in no file (created since the snapshot); or in a file and also fresh, unchanged.
PLACES = ("base", "delta_over_base", "delta_over_delta", "fresh_over_file", "fresh_only",
          "fresh_same")


def _write(rows: list[tuple], directory: str, name: str) -> str:
    con = engine.connect(threads=1)
    engine.create_table(con)
    engine.insert_rows(con, rows)
    path = f"{directory}/{name}.parquet"
    engine.write_parquet(con, path)
    con.close()
    return path


def _extra(p: Profile, rnd: random.Random) -> tuple[int, int | None]:
    """(created ms, latest interaction ms) for tag health, either side of the stale cutoff."""
    return (STALE_CUTOFF + rnd.choice((-1, 1)) * 1000,
            rnd.choice((None, STALE_CUTOFF - 5, STALE_CUTOFF + 5)))


def build(now: list[Profile], old: list[Profile], seed: int, catalogue: Catalogue | None = None
          ) -> tuple[Population, dict[str, tuple[int, int | None]]]:
    """A population whose current customers are ``now``, spread over base, two deltas and
    the fresh set by PLACES; ``old`` gives the outdated versions the files may still hold."""
    rnd = random.Random(seed)
    extra = {p.customer_id: _extra(p, rnd) for p in now}

    def row(p: Profile) -> tuple:
        created, seen = extra.get(p.customer_id, (0, None))
        return layout.row_of(p, created_at=created, seen_ms=seen)

    base, d1, d2, fresh = [], [], [], []
    for p, stale in zip(now, old, strict=True):
        place = rnd.choice(PLACES)
        if place == "base":
            base.append(row(p))
        elif place == "delta_over_base":
            base.append(row(stale))
            d1.append(row(p))
        elif place == "delta_over_delta":
            d1.append(row(stale))
            d2.append(row(p))
        elif place == "fresh_over_file":
            rnd.choice((base, d1, d2)).append(row(stale))
            fresh.append(p)
        elif place == "fresh_only":
            fresh.append(p)
        else:
            rnd.choice((base, d2)).append(row(p))
            fresh.append(p)
    directory = tempfile.mkdtemp(prefix="population-")
    files = [_write(base, directory, "base")]
    files += [_write(d, directory, f"d{i}") for i, d in enumerate((d1, d2)) if d]
    snap = Snapshot(seller_id="s", files=files, marks={}, latest_ms=None)
    return Population(catalogue or CATALOGUE, NOW_MS, snap, fresh, extra), extra


CATALOGUE = Catalogue({})
PEOPLE = st.integers(1, 12).flatmap(
    lambda n: st.tuples(st.tuples(*(customer(f"c{i:02}") for i in range(n))),
                        st.tuples(*(customer(f"c{i:02}") for i in range(n))),
                        st.integers(0, 2**32)))


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(people=PEOPLE, raw=raw_rule, s1=raw_rule)
def test_every_read_equals_the_item_predicate_over_the_customers_now(people, raw, s1):
    now, old, seed = people
    now = list(now)
    rule = _normalised(raw)
    catalogue = Catalogue({"s1": _normalised(s1), "s2": {"segment": "s1"}})
    population, extra = build(now, list(old), seed, catalogue)
    keep = compile_rule(rule, NOW_MS, catalogue)
    truth = sorted(p.customer_id for p in now if keep(p))

    assert population.members(rule) == truth
    assert population.preview(rule, 3) == (len(truth), truth[:3])
    assert population.sizes({"r": rule, "all": {"not": rule}}) == \
        {"r": len(truth), "all": len(now) - len(truth)}
    assert population.count() == len(now)
    # paging: every member exactly once, in order, whatever the page size
    for size in (1, 2, 5):
        seen, after = [], None
        while True:
            ids, more = population.page(rule, after, size)
            seen += ids
            if not more:
                break
            after = ids[-1]
        assert seen == truth
    assert population.insights(rule) == summary.summarise(
        (p for p in now if keep(p)), NOW_MS)
    total, per_tag = population.tag_tally(STALE_CUTOFF)
    want: dict[str, tag_domain.TagStats] = {}
    for p in now:
        created, seen_ms = extra[p.customer_id]
        for tag_id in p.tags:
            stats = want.setdefault(tag_id, tag_domain.TagStats())
            stats.customers += 1
            stats.stale += (seen_ms if seen_ms is not None else created) < STALE_CUTOFF
    assert (total, per_tag) == (len(now), want)


HISTORIES = [(), (*order(10), *order(40)), (event("cart_added", 5),), (*order(200),),
             (*order(10), *order(20), event("followed", 3), event("live_viewed", 2)),
             (*order(100), *order(300))]


def test_the_built_ins_over_a_snapshot_with_deltas_and_fresh_customers():
    rnd = random.Random(7)
    now = [Profile(f"c{i:02}", age=rnd.choice((None, 20, 40)), agg=agg_of(*rnd.choice(HISTORIES)))
           for i in range(40)]
    old = [Profile(p.customer_id, agg=agg_of(*rnd.choice(HISTORIES))) for p in now]
    population, _ = build(now, old, 3)
    for seg, rule in builtins.BUILTIN_RULES.items():
        keep = compile_rule(rule, NOW_MS, CATALOGUE)
        assert population.members({"segment": seg}) == \
            sorted(p.customer_id for p in now if keep(p)), seg
