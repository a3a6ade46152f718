"""Audiences from a columnar snapshot, evaluated in-process with DuckDB (docs/segments.md,
"Columnar back end"). Not wired to any route yet: nothing in the app imports this module.

Where it sits: the SQL and the snapshot's layout are pure (chalicelib/domain/columnar.py);
this module runs them. It is its own layer beside chalicelib.store (.importlinter) because
it is an engine, not AWS: it reads and writes local files and talks to no service, and the
audience layer above will combine both (the store fetches the snapshot object from S3, this
evaluates it). pyarrow is not used: DuckDB alone builds the snapshot from Python lists, and
the Lambda package stays under its 250 MB limit (docs/segments.md gives the figures).

DuckDB is imported lazily, inside ``connect``: ``import duckdb`` alone takes 266-294 ms and
+28 MB of RSS on this machine (3 processes), more than half of the app's whole cold import;
no other route may pay that (docs/architecture.md, "Function-level imports").
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections.abc import Iterable
from typing import Any

from chalicelib.domain import columnar
from chalicelib.domain.compiler import Resolver
from chalicelib.domain.profile import Profile

CHUNK = 20_000
_HOME = tempfile.mkdtemp(prefix="crm-duckdb-")


def connect(threads: int | None = None, memory_limit: str | None = None) -> Any:
    """An in-memory DuckDB connection that never downloads or loads an extension (parquet
    and json are built into the wheel) and keeps its home in a private temp dir."""
    import duckdb  # lazy: see the module docstring (cold-import budget)

    config: dict[str, Any] = {"autoinstall_known_extensions": False,
                              "autoload_known_extensions": False,
                              "allow_community_extensions": False,
                              "home_directory": _HOME, "temp_directory": _HOME}
    if threads is not None:
        config["threads"] = threads
    if memory_limit is not None:
        config["memory_limit"] = memory_limit
    con = duckdb.connect(":memory:", config=config)
    con.execute("SET enable_progress_bar = false")
    return con


def create_table(con: Any, name: str = "snapshot") -> None:
    cols = ", ".join(f"{c} {t}" for c, t in columnar.LAYOUT)
    con.execute(f"CREATE OR REPLACE TABLE {name} ({cols})")


_JSON_COLUMNS = "{" + ", ".join(f"{columnar._quote(c)}: {columnar._quote(t)}"
                               for c, t in columnar.LAYOUT) + "}"


def insert_rows(con: Any, rows: list[tuple], name: str = "snapshot") -> None:
    """Append rows (``columnar.row_of`` tuples) through a newline-delimited JSON file read
    by DuckDB's built-in reader with the layout's types: 3x faster than passing the columns
    as list parameters (40,000 rows: 1.9 s against 5.5 s, bench_columnar)."""
    if not rows:
        return
    fd, path = tempfile.mkstemp(suffix=".json", dir=_HOME)
    try:
        with os.fdopen(fd, "w") as out:
            for row in rows:
                out.write(json.dumps(dict(zip(columnar.COLUMNS, row, strict=True)),
                                     separators=(",", ":")))
                out.write("\n")
        con.execute(f"INSERT INTO {name} SELECT * FROM read_json({columnar._quote(path)}, "
                    f"format = 'newline_delimited', columns = {_JSON_COLUMNS})")
    finally:
        os.remove(path)


def load(con: Any, profiles: Iterable[Profile], name: str = "snapshot", chunk: int = CHUNK) -> int:
    """A snapshot table of these profiles in ``con``; returns the number of rows."""
    create_table(con, name)
    n, batch = 0, []
    for row in columnar.rows(profiles):
        batch.append(row)
        if len(batch) >= chunk:
            insert_rows(con, batch, name)
            n += len(batch)
            batch = []
    insert_rows(con, batch, name)
    return n + len(batch)


def write_parquet(con: Any, path: str, name: str = "snapshot") -> None:
    """The snapshot table as one Parquet file (the form kept in S3), row groups of 122,880."""
    con.execute(f"COPY {name} TO {columnar._quote(path)} (FORMAT parquet, COMPRESSION zstd)")


def source_of(path: str) -> str:
    return f"read_parquet({columnar._quote(path)})"


def files_source(files: list[str]) -> str:
    """One SQL source over several Parquet files (every row of each)."""
    return "read_parquet([" + ", ".join(columnar._quote(f) for f in files) + "])"


def latest_ms(con: Any, source: str) -> int | None:
    """The latest kept event time in a snapshot (one scan of scalar columns; to be stored
    with the snapshot when it is written)."""
    return con.execute(f"SELECT {columnar.LATEST_SQL} FROM {source}").fetchone()[0]


def matching_ids(con: Any, source: str, rule: dict, now_ms: int, resolver: Resolver,
                 latest: int | None = None) -> set[str]:
    """Ids of the customers of ``source`` (a table name or ``source_of(path)``) in the rule;
    ``latest``: ``latest_ms`` of that snapshot, when known."""
    where, params = columnar.compile_sql(rule, now_ms, resolver, latest)
    return {r[0] for r in con.execute(f"SELECT customer_id FROM {source} WHERE {where}",
                                      params).fetchall()}


def preview(con: Any, source: str, rule: dict, now_ms: int, resolver: Resolver,
            sample_size: int = 20, latest: int | None = None) -> dict:
    """Size now and a sample of members (the smallest ids), in one scan."""
    where, params = columnar.compile_sql(rule, now_ms, resolver, latest)
    size, sample = con.execute(
        f"SELECT count(*), coalesce(min(customer_id, {int(sample_size)}), []) "
        f"FROM {source} WHERE {where}", params).fetchone()
    return {"size": size, "sample": sorted(sample)}


# ----- a snapshot as the audience layer reads it ----------------------------------------

_ENGINE: Any = None
_ENGINE_LOCK = threading.Lock()


def engine() -> Any:
    """This process's DuckDB connection (one per process, like the snapshot files it reads);
    every read takes its own ``cursor()``, which has its own temp tables."""
    global _ENGINE
    with _ENGINE_LOCK:
        if _ENGINE is None:
            _ENGINE = connect()
        return _ENGINE.cursor()


def open_source(cur: Any, files: list[str], skip: Iterable[str]) -> str:
    """A SQL source over a snapshot made of ``files`` (a base first, then deltas oldest
    first; a later file is newer for every customer in both), with one row per customer —
    the newest — and none for the customers in ``skip`` (those the caller reads from the
    table instead). Creates the temp tables it needs on ``cur``; returns the source text."""
    skip = sorted(set(skip))
    if skip:
        cur.execute("CREATE OR REPLACE TEMP TABLE skip_ids AS "
                    "SELECT unnest(?::VARCHAR[]) AS customer_id", [skip])
    base, deltas = files[0], files[1:]
    if not deltas:
        src = source_of(base)
        return f"(SELECT * FROM {src} ANTI JOIN skip_ids USING (customer_id))" if skip else src
    # The deltas, newest first, each customer once: small (compaction keeps them so).
    cur.execute(f"CREATE OR REPLACE TEMP TABLE delta_rows AS SELECT * FROM {source_of(deltas[-1])}")
    for path in reversed(deltas[:-1]):
        cur.execute(f"INSERT INTO delta_rows SELECT * FROM {source_of(path)} "
                    "ANTI JOIN delta_rows USING (customer_id)")
    cur.execute("CREATE OR REPLACE TEMP TABLE base_skip AS SELECT customer_id FROM delta_rows")
    if skip:
        cur.execute("INSERT INTO base_skip SELECT customer_id FROM skip_ids")
    fresh = "(SELECT * FROM delta_rows ANTI JOIN skip_ids USING (customer_id))" if skip \
        else "delta_rows"
    return (f"(SELECT * FROM {source_of(base)} ANTI JOIN base_skip USING (customer_id) "
            f"UNION ALL SELECT * FROM {fresh})")


def versions_held(files: list[str], customer_ids: Iterable[str]) -> dict[str, int]:
    """The version each of these customers has in the snapshot made of ``files`` (the
    newest file's row is the highest version: the consumer's rule), for those it holds."""
    ids = sorted(set(customer_ids))
    if not files or not ids:
        return {}
    cur = engine()
    try:
        cur.execute("CREATE OR REPLACE TEMP TABLE wanted_ids AS "
                    "SELECT unnest(?::VARCHAR[]) AS customer_id", [ids])
        got = cur.execute(f"SELECT customer_id, max(version) FROM {files_source(files)} "
                          "SEMI JOIN wanted_ids USING (customer_id) GROUP BY customer_id")
        return {c: int(v or 0) for c, v in got.fetchall()}
    finally:
        cur.close()
