"""Route: the conversations a seller sees (customers who replied to a plan's message)."""

from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.common import ListQuery
from chalicelib.api.routing import decode_cursor, encode_cursor, endpoint
from chalicelib.domain.errors import Invalid

bp = Blueprint(__name__)


def _position(cursor: str | None) -> str | None:
    value = (decode_cursor(cursor) or {}).get("b")
    if value is not None and not (isinstance(value, str) and 0 < len(value) <= 600):
        raise Invalid("cursor is not valid", [{"path": "cursor", "message": "invalid cursor"}])
    return value


@endpoint(bp, "/v1/conversations", "GET", query=ListQuery,
          response="conversations.ConversationPage")
def list_conversations(p, query):
    """Customers who replied to a plan's message, with the message and their replies
    (oldest first); newest reply first."""
    from chalicelib.services import conversations

    items, nxt = conversations.page(p.seller_id, query.limit, _position(query.cursor))
    return {"items": items, "next_cursor": encode_cursor({"b": nxt} if nxt else None)}
