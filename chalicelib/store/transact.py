"""Conditional writes given as TransactWriteItems-shaped entries (``{"Put": {...}}`` /
``{"Update": {...}}``, each with its own ``ConditionExpression``), written one request each:
``write_each`` returns, per entry, whether its condition held and it landed.

Why not one TransactWriteItems per 100 (tried, session 19): on AWS a transactional write
consumes two write units instead of one, and on moto every TransactWriteItems deep-copies
every table of the backend (its rollback copy), so a sweep slowed as the table grew, and
under the local stack's threads the copy raced other writes ("dictionary changed size
during iteration"). The batching that pays is for writes that need no condition
(``occurrences.finish_all`` with ``claimed``: BatchWriteItem). What pays for the conditional
ones is overlap: the round trips of one call run on a bounded pool of threads.
"""

from __future__ import annotations

import json
from concurrent.futures import FIRST_EXCEPTION, ThreadPoolExecutor, wait
from threading import Event, Lock
from typing import Any

from chalicelib.settings import settings
from chalicelib.store.aws import client


def write_each(requests: list[dict[str, Any]], workers: int | None = None) -> list[bool]:
    """Each entry its own conditional request, up to ``workers`` (settings
    ``timer_sweep_workers``) in flight at once: a sweep's claims and finishes and a trigger's
    creations wait on round trips, not on each other. Entries for one item stay in order, one
    after another (so two writes to one key decide as they would serially). Each write is
    still atomic and conditional on its own, so overlap and crash safety are those of the
    serial loop: a write that raises (a crash) ends the call with that error once the writes
    already in flight have finished, and no other write starts after it (queued items are
    cancelled, a running item's next write is skipped), exactly as a serial loop dying part
    way leaves some landed and some not. The boto3 client is thread-safe (its connection pool
    holds 32)."""
    if not requests:
        return []
    ddb = client("dynamodb")
    out: list[bool | None] = [None] * len(requests)
    chains: dict[str, list[int]] = {}
    for i, request in enumerate(requests):
        chains.setdefault(_item_of(request), []).append(i)

    size = min(workers or settings().timer_sweep_workers, len(chains))
    if size <= 1:
        for indexes in chains.values():
            for i in indexes:
                out[i] = _write_one(ddb, requests[i])
        return [bool(x) for x in out]

    stop, lock = Event(), Lock()
    failed: list[BaseException] = []

    def run(indexes: list[int]) -> None:
        for i in indexes:
            if stop.is_set():
                return
            try:
                out[i] = _write_one(ddb, requests[i])
            except BaseException as error:
                with lock:
                    failed.append(error)
                    stop.set()
                raise

    with ThreadPoolExecutor(max_workers=size, thread_name_prefix="write-each") as pool:
        futures = [pool.submit(run, indexes) for indexes in chains.values()]
        wait(futures, return_when=FIRST_EXCEPTION)
        if stop.is_set():
            for future in futures:
                future.cancel()      # not started yet; the running ones finish their write
    if failed:
        raise failed[0]              # the first error, after every write in flight finished
    return [bool(x) for x in out]


def _write_one(ddb: Any, request: dict[str, Any]) -> bool:
    try:
        if "Put" in request:
            ddb.put_item(**request["Put"])
        else:
            ddb.update_item(**request["Update"])
        return True
    except ddb.exceptions.ConditionalCheckFailedException:
        return False


def _item_of(request: dict[str, Any]) -> str:
    """Which item an entry writes (its table and key); a Put by its item's key attributes."""
    if "Put" in request:
        body = request["Put"]
        key = {k: v for k, v in body["Item"].items() if k in _PUT_KEYS}
    else:
        body = request["Update"]
        key = body["Key"]
    return json.dumps([body["TableName"], key], sort_keys=True)


# The key attributes of the tables written with Put here (occurrences: pk + key; delivery
# rows: pk + customer_id); a table keyed otherwise only chains more of its Puts one after
# another.
_PUT_KEYS = ("pk", "key", "customer_id")
