"""Channels a message goes out through. Each takes a batch of rendered messages and
returns, per delivery key, None (delivered) or the reason it failed for good; it raises
when the failure is transient, so the chunk is retried (keeping what already went out).

A channel may declare ``slice_size``: the worker hands it at most that many messages per
call and checks its remaining Lambda time between calls (default: the whole batch).

Every channel must be idempotent on the delivery key (the worker may re-send a message
whose claim expired after a crash): the local chat channel overwrites the same inbox
item; the HTTP adapter passes the key as ``Idempotency-Key``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from chalicelib.logs import get_logger, log
from chalicelib.settings import settings
from chalicelib.store import inbox, sms

logger = get_logger("delivery.channels")


@dataclass
class OutMessage:
    key: str                   # delivery key: plan#customer#channel
    seller_id: str
    customer_id: str
    plan_id: str
    channel: str
    message_id: str
    text: str
    locale: str
    sent_at: int               # ms
    product_ids: list[str] = field(default_factory=list)
    voucher: dict | None = None
    button: dict | None = None
    test: bool = False
    phone: str | None = None   # sms / voice: the customer's number (E.164)
    order_id: str | None = None


class Channel(Protocol):
    def send(self, messages: list[OutMessage]) -> dict[str, str | None]: ...


class TransientChannelError(Exception):
    """The channel could not take the messages now; retry the chunk later."""


class LocalChat:
    """Stores messages in the inbox table (GET /v1/customers/{id}/inbox reads them)."""

    slice_size = 25   # one BatchWriteItem

    def send(self, messages: list[OutMessage]) -> dict[str, str | None]:
        inbox.put_messages([inbox.new_message(m.seller_id, m.customer_id, {
            "message_id": m.message_id, "plan_id": m.plan_id, "text": m.text, "locale": m.locale,
            "product_ids": m.product_ids, "voucher": m.voucher, "button": m.button,
            "sent_at": m.sent_at, "test": m.test, "delivery_key": m.key}) for m in messages])
        return {m.key: None for m in messages}


class HttpChat:
    """Production adapter: POSTs each message to the marketplace messaging API with the
    delivery key as ``Idempotency-Key`` (a re-sent message is recognised there)."""

    slice_size = 1    # each POST may take up to the timeout: the deadline is checked per message

    def __init__(self, endpoint: str, timeout: float) -> None:
        self.endpoint, self.timeout = endpoint, timeout

    def send(self, messages: list[OutMessage]) -> dict[str, str | None]:
        import requests  # on first send, like _http_session's

        out: dict[str, str | None] = {}
        session = _http_session()   # pooled per process: connections reused across chunks
        for m in messages:
            try:
                reply = session.post(self.endpoint, json=_payload(m), timeout=self.timeout,
                                     headers={"Idempotency-Key": m.key})
            except requests.RequestException as exc:
                raise TransientChannelError(f"messaging endpoint unreachable: {exc}") from exc
            if reply.status_code >= 500 or reply.status_code == 429:
                raise TransientChannelError(f"messaging endpoint answered {reply.status_code}")
            out[m.key] = None if reply.status_code < 400 else f"rejected_{reply.status_code}"
        return out


class LocalPhone:
    """SMS or voice on the local stack: what would be sent is stored in the inbox table with
    its ``channel`` (and the number it would go to), so the inbox shows it. Offline only:
    settings refuse ``CRM_PHONE_CHANNEL=local`` on any other stage."""

    slice_size = 25   # one BatchWriteItem

    def __init__(self, name: str) -> None:
        self.name = name

    def send(self, messages: list[OutMessage]) -> dict[str, str | None]:
        inbox.put_messages([inbox.new_message(m.seller_id, m.customer_id, {
            "message_id": m.message_id, "plan_id": m.plan_id, "text": m.text, "locale": m.locale,
            "product_ids": [], "voucher": None, "button": None, "sent_at": m.sent_at,
            "test": m.test, "delivery_key": m.key, "channel": self.name, "phone": m.phone})
            for m in messages if m.phone])
        return {m.key: None if m.phone else "no_phone" for m in messages}


class AwsPhone:
    """SMS (``send_text_message``) or voice (``send_voice_message``) through AWS End User
    Messaging, one call per message with the delivery key as its context. A message the
    service refuses for good fails with a reason; throttling and outages raise, so the chunk
    is retried (keeping what went out)."""

    slice_size = 1    # each call may take the timeout: the deadline is checked per message

    def __init__(self, name: str, origination: str | None) -> None:
        self.name, self.origination = name, origination

    def send(self, messages: list[OutMessage]) -> dict[str, str | None]:
        out: dict[str, str | None] = {}
        for m in messages:
            if not m.phone:
                out[m.key] = "no_phone"
                continue
            if self.name == "voice" and not self.origination:
                out[m.key] = "no_origination_identity"
                continue
            try:
                if self.name == "sms":
                    sms.send_text(m.phone, m.text, m.key, self.origination)
                else:
                    sms.send_voice(m.phone, m.text, m.key, self.origination or "",
                                   sms.voice_for(m.locale))
            except sms.Rejected as exc:
                out[m.key] = exc.reason
                continue
            except Exception as exc:
                raise TransientChannelError(f"{self.name} provider failed: {type(exc).__name__}") from exc
            out[m.key] = None
        return out


class Unsupported:
    """SMS and voice are not wired to a provider yet: every message fails with a reason."""

    def __init__(self, name: str) -> None:
        self.name = name

    def send(self, messages: list[OutMessage]) -> dict[str, str | None]:
        log(logger, "channel not supported yet", channel=self.name, messages=len(messages))
        return {m.key: "channel_not_supported" for m in messages}


_session: Any = None


def _http_session() -> Any:
    global _session
    if _session is None:
        # On first send: ~40 ms that only an http send needs; the API's plan routes load this
        # module (services.plans -> delivery.worker) and send nothing (docs/architecture.md).
        import requests

        _session = requests.Session()
    return _session


def _payload(m: OutMessage) -> dict[str, Any]:
    body = asdict(m)
    body.pop("key")
    return body


def channel_for(name: str) -> Channel:
    cfg = settings()
    if name == "chat":
        if cfg.chat_channel == "http":
            if not cfg.messaging_endpoint:
                raise RuntimeError("CRM_CHAT_CHANNEL=http needs CRM_MESSAGING_ENDPOINT")
            return HttpChat(cfg.messaging_endpoint, cfg.messaging_timeout_seconds)
        return LocalChat()
    if name in ("sms", "voice"):
        if cfg.phone_channel == "aws":
            return AwsPhone(name, cfg.sms_origination_identity if name == "sms"
                            else cfg.voice_origination_identity)
        return LocalPhone(name)
    return Unsupported(name)
