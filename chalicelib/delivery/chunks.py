"""Queue messages of the delivery pipeline, one pydantic model each, and their senders.

A delivery message is a pointer to a chunk item (seller, plan, chunk number): the chunk
item holds the recipients and their state, so a message delivered twice, or re-sent by a
retried dispatch, points at the same work and the same claim.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from chalicelib.store import queues


class DispatchMessage(BaseModel):
    """What the dispatch queue carries (an immediate send and a schedule's Input alike)."""
    model_config = ConfigDict(extra="ignore")
    seller_id: str = Field(min_length=1)
    plan_id: str = Field(min_length=1)


class ChunkMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")
    seller_id: str
    plan_id: str
    chunk: int = Field(ge=0)
    gen: int = Field(default=0, ge=0, description="the chunk's generation (paced hand-backs)")


class Fact(BaseModel):
    """One counter-moving state change, applied at most once by its ``key`` within ``part``."""
    plan_id: str
    part: str
    key: str
    add: dict[str, Any]
    # Engagement facts (delivery/engagement.py), for the overview's rollups
    # (delivery/rollups.py): who, when it happened, when their message was sent (ms).
    customer_id: str | None = None
    at: int | None = None
    sent_at: int | None = None


class MetricsMessage(BaseModel):
    seller_id: str
    facts: list[Fact]


def send_chunks(seller_id: str, plan_id: str, numbers: list[int], *, gen: int = 0,
                delay_seconds: int = 0) -> None:
    queues.send_batch("delivery", [ChunkMessage(seller_id=seller_id, plan_id=plan_id, chunk=n,
                                                gen=gen).model_dump() for n in numbers],
                      delay_seconds=delay_seconds)


FACTS_PER_MESSAGE = 200


def send_facts(seller_id: str, facts: list[Fact]) -> None:
    """Facts to the metrics queue, packed many per message (the aggregator folds a batch)."""
    if not facts:
        return
    dumped = [f.model_dump(mode="json") for f in facts]
    queues.send_batch("metrics", [{"seller_id": seller_id, "facts": dumped[i:i + FACTS_PER_MESSAGE]}
                                  for i in range(0, len(dumped), FACTS_PER_MESSAGE)])
