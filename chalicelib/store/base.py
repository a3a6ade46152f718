"""Shared PynamoDB plumbing: table naming from settings, sharding, retries."""

from __future__ import annotations

import zlib
from collections.abc import Callable
from typing import Any

from pynamodb.exceptions import DeleteError, PutError, UpdateError
from pynamodb.models import Model

from chalicelib.settings import settings


def meta(short_name: str) -> type:
    """A PynamoDB ``Meta`` for one table, named and located from settings."""
    cfg = settings()

    class Meta:
        table_name = cfg.table_name(short_name)
        region = cfg.region
        host = cfg.aws_endpoint_url
        billing_mode = "PAY_PER_REQUEST"
        max_retry_attempts = 8
        base_backoff_ms = 25

    return Meta


def shard_of(customer_id: str) -> int:
    """Stable shard of a customer (crc32, not hash(): the same on every process)."""
    return zlib.crc32(customer_id.encode()) % settings().customer_shards


def customer_pk(seller_id: str, customer_id: str) -> str:
    return f"{seller_id}#{shard_of(customer_id)}"


def shard_pks(seller_id: str) -> list[str]:
    return [f"{seller_id}#{i}" for i in range(settings().customer_shards)]


def is_conditional_failure(exc: Exception) -> bool:
    cause = getattr(exc, "cause_response_code", None)
    return cause in ("ConditionalCheckFailedException", "TransactionCanceledException")


def get_or_none(model: type[Model], hash_key: Any, range_key: Any = None) -> Any:
    """The item under that key (a strongly consistent read), or None when there is none."""
    try:
        return model.get(hash_key, range_key, consistent_read=True)
    except model.DoesNotExist:
        return None


def landed(write: Callable[[], object]) -> bool:
    """Run one conditional write (a PynamoDB save, update or delete): True when it landed,
    False when its condition did not hold. Any other error propagates.

        if not landed(lambda: item.save(condition=Item.key.does_not_exist())):
            ...   # it existed already
    """
    try:
        write()
    except (PutError, UpdateError, DeleteError) as exc:
        if is_conditional_failure(exc):
            return False
        raise
    return True


def sorted_page(model: type[Model], hash_key: str, limit: int, cursor: str | None, *,
                newest_first: bool = False, **query: Any) -> tuple[list[Any], str | None]:
    """One page of a partition in sort-key order: ascending from after ``cursor``, or with
    ``newest_first`` descending from before it. Returns the items and the sort key the next
    page continues from (None on the last page); ``query`` goes to the Query as it is (a
    ``filter_condition``, ``attributes_to_get``). Reads one item more to know whether there
    is a next page."""
    key_name = model._range_keyname   # PynamoDB's name of the model's sort key
    key = getattr(model, key_name)
    condition = (key < cursor if newest_first else key > cursor) if cursor else None
    items = list(model.query(hash_key, range_key_condition=condition, limit=limit + 1,
                             scan_index_forward=not newest_first, consistent_read=True, **query))
    more = len(items) > limit
    items = items[:limit]
    return items, (getattr(items[-1], key_name) if more and items else None)


class BaseModel(Model):
    """Marker base so the table registry can find every model."""
