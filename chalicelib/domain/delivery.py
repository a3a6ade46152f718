"""Delivery rules (SPEC.md §4 "Delivery rules"), pure: who is skipped and why, how the
audience is cut into chunks, the delivery key, per-recipient voucher codes, the counters
a recorded outcome moves.

Nothing here reads the clock or talks to AWS: callers pass ``now_ms`` and plain values.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from chalicelib.domain import aggregates

# Plan kinds whose messages count toward the shop's frequency cap (order notices do not).
MARKETING_KINDS = frozenset({"one_off", "automated"})
PHONE_CHANNELS = frozenset({"sms", "voice"})
# Skip reasons in the order they are checked: the first that applies is the one recorded.
SKIP_REASONS = ("blocked", "unsubscribed", "no_phone", "frequency_cap")
# Customer events that move a plan counter once per customer (event type -> counter).
ENGAGEMENT_COUNTERS = {
    "message_read": "read",
    "message_clicked": "clicked",
    "message_replied": "replied",
    "unsubscribed": "unsubscribed",
    "voucher_claimed": "vouchers_claimed",
    "voucher_redeemed": "vouchers_redeemed",
}
DELIVERED, FAILED, SKIPPED = "delivered", "failed", "skipped"


def delivery_key(plan_id: str, customer_id: str, channel: str) -> str:
    """The business key of one message: never the SQS message id (a re-sent chunk gets
    new message ids), so every retry of the same recipient maps to the same key."""
    return f"{plan_id}#{customer_id}#{channel}"


def message_id(key: str) -> str:
    """A stable, opaque id for the message a delivery key produces (same key, same id)."""
    return "msg_" + hashlib.sha256(key.encode()).hexdigest()[:24]


def voucher_code(key: str, voucher_id: str, *, secret: bytes) -> str:
    """A private voucher's code for one recipient: an HMAC-SHA256 under the server's voucher
    secret of the voucher id and the delivery key, so a retry issues the same code, each
    recipient gets their own (80 bits), and nobody who knows the (public) ids can compute
    another recipient's code without the secret."""
    digest = hmac.new(secret, f"{voucher_id}|{key}".encode(), hashlib.sha256).digest()
    return "PV" + base64.b32encode(digest[:10]).decode().rstrip("=")


@dataclass(frozen=True)
class Recipient:
    """What eligibility needs to know about one audience member."""
    customer_id: str
    blocked: bool
    unsubscribed: bool
    has_phone: bool


def recipient_of(customer_id: str, agg: dict | None, phone: str | None) -> Recipient:
    agg = agg or aggregates.empty()
    return Recipient(customer_id, aggregates.is_blocked(agg), aggregates.is_unsubscribed(agg),
                     bool(phone))


def skip_reason(recipient: Recipient, channels: Iterable[str], marketing: bool,
                recent_sends: int, cap: tuple[int, int] | None) -> str | None:
    """Why this recipient must not get the message, or None when they may.

    ``recent_sends`` is how many marketing messages they got within the cap's window;
    ``cap`` is (max_messages, per_days) or None when the shop has no cap. The cap skips
    (never defers) and applies to marketing plans only."""
    if recipient.blocked:
        return "blocked"
    if recipient.unsubscribed:
        return "unsubscribed"
    if PHONE_CHANNELS & set(channels) and not recipient.has_phone:
        return "no_phone"
    if marketing and cap is not None and recent_sends >= cap[0]:
        return "frequency_cap"
    return None


def chunked(ids: list[str], size: int) -> list[list[str]]:
    """Recipients cut into chunks of at most ``size`` (in a stable order, so a recomputed
    snapshot of the same audience cuts the same chunks)."""
    ordered = sorted(ids)
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


def sends_per_customer(outcome_lists: Iterable[list[dict]]) -> Counter[str]:
    """Marketing messages delivered per customer, from the outcome lists of finished chunks."""
    counts: Counter[str] = Counter()
    for outcomes in outcome_lists:
        for row in outcomes:
            if row.get("status") == DELIVERED:
                counts[row["customer_id"]] += 1
    return counts


def chunk_counters(outcomes: list[dict]) -> dict[str, int]:
    """The counters one recorded chunk moves: delivered, failed, skipped_<reason>, and
    vouchers_withheld (delivered without the plan's family voucher: not qualified)."""
    out: Counter[str] = Counter()
    for row in outcomes:
        status = row["status"]
        if row.get("voucher_withheld") and status == DELIVERED:
            out["vouchers_withheld"] += 1
        out[f"skipped_{row.get('reason') or 'other'}" if status == SKIPPED else status] += 1
    return dict(out)


def row_status(per_channel: dict[str, str]) -> str:
    """A recipient's status over the plan's channels: delivered if any channel delivered."""
    if any(s == DELIVERED for s in per_channel.values()):
        return DELIVERED
    return FAILED
