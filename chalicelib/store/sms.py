"""AWS End User Messaging SMS and Voice (boto3 ``pinpoint-sms-voice-v2``): the SMS and voice
channels' calls on AWS. Only this module talks to the service.

Each call carries the delivery key in ``Context`` (the provider keeps it with the message and
its delivery events), so a message re-sent after a crash can be matched to the first."""

from __future__ import annotations

from typing import Any

from chalicelib.store.aws import client

SERVICE = "pinpoint-sms-voice-v2"
MAX_SMS_BODY, MAX_VOICE_BODY = 1600, 6000
# The voice that reads a message in the template locales the service has one for; the other
# locales (th, vi, id, ms) are read by the service's default voice.
VOICES = {"en": "JOANNA", "zh": "ZHIYU"}


def voice_for(locale: str) -> str | None:
    return VOICES.get(locale.lower().split("-")[0])


class Rejected(Exception):
    """The service refused this one message for good (a bad number, opted out): not retried."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


# Errors that concern this message only: the number, the opt-out list, the request itself.
PERMANENT = {"ValidationException": "rejected_invalid", "ResourceNotFoundException": "rejected_not_found",
             "ConflictException": "rejected_conflict", "AccessDeniedException": "rejected_access",
             "ServiceQuotaExceededException": None}


def _call(method: str, request: dict[str, Any]) -> str:
    sms = client(SERVICE)
    try:
        return getattr(sms, method)(**request)["MessageId"]
    except sms.exceptions.ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        reason = PERMANENT.get(code)
        if reason:
            raise Rejected(reason) from exc
        raise   # throttling, quota, 5xx: transient, the chunk is retried


def send_text(phone: str, body: str, key: str, origination: str | None) -> str:
    """One SMS; returns the provider's message id."""
    request: dict[str, Any] = {"DestinationPhoneNumber": phone, "MessageBody": body[:MAX_SMS_BODY],
                               "MessageType": "TRANSACTIONAL", "Context": {"delivery_key": key}}
    if origination:
        request["OriginationIdentity"] = origination
    return _call("send_text_message", request)


def send_voice(phone: str, body: str, key: str, origination: str, voice_id: str | None = None) -> str:
    """One voice call reading ``body``; returns the provider's message id."""
    request: dict[str, Any] = {"DestinationPhoneNumber": phone, "OriginationIdentity": origination,
                               "MessageBody": body[:MAX_VOICE_BODY], "MessageBodyTextType": "TEXT",
                               "Context": {"delivery_key": key}}
    if voice_id:
        request["VoiceId"] = voice_id
    return _call("send_voice_message", request)
