"""Where moto differs from AWS in a way our guarantees depend on, make it behave like AWS.

DynamoDB applies a conditional write atomically per item; moto's backend does not lock, so
two threads (the local API server is threaded) could both pass the same version condition
and one update would be lost. Serialising moto's item writes restores AWS's semantics."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

WRITES = ("put_item", "update_item", "delete_item", "transact_write_items")
_lock = threading.RLock()


def atomic_item_writes(patch: Callable[[Any, str, Any], None] | None = None) -> None:
    """Wrap moto's DynamoDB item writes in one lock. ``patch(obj, name, value)`` defaults to
    setattr (pass pytest's ``monkeypatch.setattr`` to undo it after a test)."""
    from moto.dynamodb.models import DynamoDBBackend

    setter = patch or setattr
    for name in WRITES:
        original = getattr(DynamoDBBackend, name)
        if getattr(original, "_crm_atomic", False):
            continue

        def atomic(self: Any, *args: Any, _op: Callable = original, **kwargs: Any) -> Any:
            with _lock:
                return _op(self, *args, **kwargs)

        atomic._crm_atomic = True  # type: ignore[attr-defined]
        setter(DynamoDBBackend, name, atomic)
