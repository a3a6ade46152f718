"""``send_at: "best"``: the shop's peak read hour from its own data (domain/send_time.py).

The reads are the ``message_read`` times kept on each customer's aggregates (the latest
50 per customer, exact; docs/plans-and-delivery.md "Best send time"), read with the same
parallel shard scan a dispatch uses, once per plan that asks for it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime

from chalicelib.domain import plans as plan_rules
from chalicelib.domain import send_time as rules
from chalicelib.store import segments as segment_store


def read_times(seller_id: str) -> Iterator[int]:
    for item in segment_store.customers(seller_id):
        yield from ((item.agg or {}).get("recent") or {}).get("message_read") or []


def resolve(seller_id: str, send_at: datetime | str | None, timezone: str, now: datetime
            ) -> tuple[datetime | None, list[str]]:
    """(send time in UTC or None for now, warnings): ``"best"`` becomes the shop's best hour
    with a warning saying which and why; anything else is read as plans always read it."""
    if send_at != rules.BEST:
        return plan_rules.to_utc(send_at, timezone), []  # type: ignore[arg-type]
    best = rules.best_time(read_times(seller_id), now, timezone)
    return best.at, [best.warning(timezone)]
