"""The shop's send rate at the worker (API.md "Send rate"): before each channel call the
worker counts the slice in the shop's current second (store/pacing.py); when the second has
no room, the chunk is handed back with what went out and queued again with an SQS delay
until the first second with room: no Lambda waits, nothing is dropped.

Each hand-back bumps the chunk's ``gen`` and the queued message carries it: a message of an
older generation (a duplicate delivery, a producer's copy) does nothing, so duplicates do
not multiply into more paced attempts. The new message is queued *before* the chunk's
generation moves, so a crash in between leaves a message that is still current."""

from __future__ import annotations

import math
import time
from typing import TypeVar

from chalicelib.delivery.chunks import send_chunks
from chalicelib.domain.errors import KeptChanging
from chalicelib.logs import get_logger, log
from chalicelib.store import deliveries
from chalicelib.store import pacing as store

T = TypeVar("T")
logger = get_logger("delivery.pacing")
MAX_DELAY_S = 900          # SQS's longest message delay


class Paced(Exception):
    """The shop's current second is full: try again at ``retry_at_ms``."""

    def __init__(self, seller_id: str, retry_at_ms: int) -> None:
        super().__init__(f"send rate of {seller_id}: next room at {retry_at_ms}")
        self.retry_at_ms = retry_at_ms


def clock_ms() -> int:
    """The clock buckets are counted by (its own function so tests can speed time up)."""
    return int(time.time() * 1000)


def delay_seconds(retry_at_ms: int) -> int:
    """The SQS delay that brings the chunk back once its second has come (1–900 s)."""
    return min(MAX_DELAY_S, max(1, math.ceil((retry_at_ms - clock_ms()) / 1000)))


class Pacer:
    """One chunk attempt's gate in front of the channel."""

    def __init__(self, seller_id: str, rate: int) -> None:
        self.seller_id, self.rate = seller_id, rate

    def admit(self, piece: list[T]) -> list[T]:
        """The part of ``piece`` that may go out now (at least one message), counted in the
        current second; raises Paced when the second has no room. A grant whose second
        passed before the call could start is given up (it only wastes room) and retried."""
        while True:
            try:
                grant = store.reserve(self.seller_id, len(piece), self.rate, clock_ms())
            except KeptChanging:
                # Too many workers of the shop at once: come back in a second rather than
                # failing the record (its visibility timeout is minutes).
                raise Paced(self.seller_id, clock_ms() + 1000) from None
            if not grant.granted:
                raise Paced(self.seller_id, (grant.retry_at_s or grant.second + 1) * 1000)
            if grant.current(clock_ms()):
                return piece[:grant.granted]


def pacer(seller_id: str, rate: int | None) -> Pacer | None:
    return Pacer(seller_id, rate) if rate else None


def pace_back(chunk: deliveries.ChunkItem, progress: dict[str, str | None], paced: Paced) -> str:
    """The shop's rate has no room now: queue the chunk's next generation with a delay (first,
    so a crash leaves a current message), then release the claim keeping what went out."""
    gen = int(chunk.gen or 0) + 1
    send_chunks(chunk.seller_id, chunk.plan_id, [int(chunk.chunk)], gen=gen,
                delay_seconds=delay_seconds(paced.retry_at_ms))
    if not deliveries.hand_back(chunk, progress, gen=gen):
        return "lost_claim"
    log(logger, "chunk paced", seller_id=chunk.seller_id, plan_id=chunk.plan_id,
        chunk=int(chunk.chunk), sent=len(progress), gen=gen)
    return "paced"
