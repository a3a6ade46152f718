"""Many conditional writes in few requests: ``write_each`` lands each of a list of
conditional Puts/Updates whose own condition holds, up to 100 per TransactWriteItems call.

A transaction is all or nothing, so when some conditions fail DynamoDB cancels it and says
which (``CancellationReasons``): the call is repeated without those, and each request's
outcome is exactly what a lone conditional write would have given. A cancellation for any
other reason (a conflict with another transaction, throttling) falls back to one write per
request. So the common case (every condition holds) costs one request per 100 writes, where
one conditional write each cost 100. On AWS a transactional write consumes two write units
instead of one (docs/automated-plans.md weighs this). The writes must name distinct items.
"""

from __future__ import annotations

import json
from typing import Any

from chalicelib.store.aws import client

MAX_ITEMS = 100          # the AWS cap per TransactWriteItems
MAX_ROUNDS = 3           # cancelled rounds before falling back to single writes


def write_each(requests: list[dict[str, Any]]) -> list[bool]:
    """``requests``: TransactWriteItems entries (``{"Put": {...}}`` / ``{"Update": {...}}``,
    each with its ``ConditionExpression``); returns, per request, whether it landed."""
    ddb = client("dynamodb")
    landed = [False] * len(requests)
    for batch in _batches(requests):
        for _ in range(MAX_ROUNDS):
            if not batch:
                break
            try:
                ddb.transact_write_items(TransactItems=[requests[i] for i in batch])
            except ddb.exceptions.TransactionCanceledException as exc:
                reasons = exc.response.get("CancellationReasons") or []
                failed = {batch[j] for j, r in enumerate(reasons)
                          if r.get("Code") == "ConditionalCheckFailed"}
                if not failed:
                    break              # not a condition: one by one below
                batch = [i for i in batch if i not in failed]
                continue
            for i in batch:
                landed[i] = True
            batch = []
        for i in batch:
            landed[i] = _single(ddb, requests[i])
    return landed


def _batches(requests: list[dict[str, Any]]) -> list[list[int]]:
    """Up to MAX_ITEMS indexes per transaction, in order; a request naming an item that an
    earlier one of its transaction names waits for the next (a transaction may not name an
    item twice), so the writes to one item still land in the order given."""
    out: list[list[int]] = []
    todo = list(range(len(requests)))
    while todo:
        batch, names, later = [], set(), []
        for i in todo:
            body = next(iter(requests[i].values()))
            # An Update names its Key; a Put its Item (whose key attributes are among them).
            name = (body["TableName"], json.dumps(body.get("Key") or body["Item"],
                                                  sort_keys=True))
            if name in names or len(batch) >= MAX_ITEMS:
                later.append(i)
            else:
                names.add(name)
                batch.append(i)
        out.append(batch)
        todo = later
    return out


def _single(ddb: Any, request: dict[str, Any]) -> bool:
    try:
        if "Put" in request:
            ddb.put_item(**request["Put"])
        else:
            ddb.update_item(**request["Update"])
        return True
    except ddb.exceptions.ConditionalCheckFailedException:
        return False
