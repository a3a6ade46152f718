"""Request pieces shared by routes: list queries, If-Match, the clock."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from chalicelib.api.routing import Reply, decode_cursor
from chalicelib.domain.errors import Invalid
from chalicelib.domain.ids import is_id
from chalicelib.domain.versions import check_version  # noqa: F401  (re-exported for routes)

MAX_LIMIT = 200

# "max 200": a larger limit is served as 200 rather than refused.
Limit = Annotated[int, Field(ge=1, description=f"page size, at most {MAX_LIMIT} (larger is capped)"),
                  AfterValidator(lambda v: min(v, MAX_LIMIT))]


class ListQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")
    limit: Limit = 50
    cursor: str | None = None


def now() -> datetime:
    return datetime.now(UTC)


def if_match(request: object) -> int | None:
    """The integer version in If-Match (quotes and W/ tolerated), or None when absent."""
    raw = ((getattr(request, "headers", None) or {}).get("if-match") or "").strip()
    if not raw:
        return None
    raw = raw.removeprefix("W/").strip('"')
    try:
        return int(raw)
    except ValueError as exc:
        raise Invalid("If-Match must be a version number",
                      [{"path": "If-Match", "message": "not an integer"}]) from exc


def versioned(body: Any, status: int = 200) -> Reply:
    """The reply for one versioned resource: its ``version`` is the ETag (API.md), the
    version an If-Match sends back. ``body`` is the resource as a dict or a model."""
    version = body["version"] if isinstance(body, dict) else body.version
    return Reply(body, status, {"ETag": str(version)})


def cursor_id(cursor: str | None, key: str = "a") -> str | None:
    """The id a list cursor continues from."""
    after = (decode_cursor(cursor) or {}).get(key)
    if after is None:
        return None
    if not is_id(after):
        raise Invalid("cursor is not valid", [{"path": "cursor", "message": "invalid cursor"}])
    return after
