"""Optimistic locking: the one conflict exception and the one read-modify-write retry.

Every versioned write (PynamoDB's ``VersionAttribute``, or a raw ``v = :v`` condition)
raises ``VersionConflict`` when the item moved on since it was read. Callers never loop
themselves; they hand one attempt (read, change, conditional write) to ``retry_on_conflict``:

    def attempt(n: int) -> CustomerItem:
        item = repo.get(seller_id, customer_id)
        item.name = "Ploy"
        repo.save(item)            # raises VersionConflict when stale
        return item

    item = retry_on_conflict(attempt, what=f"customer '{customer_id}'", if_match=expected)

A caller that sent ``If-Match`` gets 412 ``precondition_failed`` on the first conflict (its
version is stale now; re-applying its change on a newer version would be a lost update). A
caller without it has its change re-applied on the fresh item, up to ``ATTEMPTS`` times with
jittered exponential backoff; if the item still keeps changing that is a 409 ``conflict``
(``KeptChanging``), never a 500.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any, TypeVar

from chalicelib.domain.errors import KeptChanging, PreconditionFailed
from chalicelib.store.base import landed

T = TypeVar("T")

ATTEMPTS = 10
# Full jitter (sleep a random time up to base * 2^n, capped) spreads writers that collided
# so one of them wins the next round; the cap bounds the worst case near one second.
BASE_DELAY_S = 0.004
MAX_DELAY_S = 0.15


class VersionConflict(Exception):
    """The item changed (or vanished) since it was read: a version-conditioned write lost."""


def conditional_save(item: Any, key: str) -> None:
    """``item.save()`` on a model with a ``VersionAttribute`` (PynamoDB conditions the write on
    the version read; a new item must not exist yet): VersionConflict naming ``key`` when
    the item moved on since it was read."""
    if not landed(item.save):
        raise VersionConflict(key)


def conditional_delete(item: Any, key: str) -> None:
    """``item.delete()`` of the version that was read: VersionConflict when it moved on."""
    if not landed(item.delete):
        raise VersionConflict(key)


def backoff(attempt: int) -> float:
    """Seconds to wait after the ``attempt``-th lost write (0-based), full jitter."""
    return random.uniform(0, min(MAX_DELAY_S, BASE_DELAY_S * 2 ** attempt))


def retry_on_conflict(attempt: Callable[[int], T], *, what: str, if_match: int | None = None,
                      attempts: int = ATTEMPTS,
                      sleep: Callable[[float], None] = time.sleep) -> T:
    """Run ``attempt(n)`` (n = 0, 1, ...) until it returns without ``VersionConflict``.

    ``attempt`` must re-read what it changes on every call (n > 0 means the last read was
    stale). With ``if_match`` set the first conflict raises ``PreconditionFailed`` (412); when
    ``attempts`` are used up it raises ``KeptChanging`` (409). Other exceptions pass through."""
    for n in range(attempts):
        try:
            return attempt(n)
        except VersionConflict:
            if if_match is not None:
                raise PreconditionFailed(f"{what} changed since version {if_match}; "
                                         "re-read it") from None
            if n + 1 < attempts:
                sleep(backoff(n))
    raise KeptChanging(f"{what} kept changing while we wrote it; try again",
                       [{"path": "", "message": f"lost {attempts} writes in a row to "
                                                "concurrent changes"}])
