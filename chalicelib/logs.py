"""Structured JSON logs through Powertools Logger: one event per line, with seller and plan ids,
and never a phone number or a name, whatever a call site passes (docs/operations.md).

    logger = get_logger("plans")
    log(logger, "plan sent", seller_id=seller_id, plan_id=plan_id, status="sent")
    logger.exception("dispatch failed")          # the stdlib API works as well

Every logger is a child of the service's Powertools Logger, whose level is
``settings().log_level``. Its formatter redacts personal fields by key (``phone``, ``name``
and their variants, a rendered message ``text``) and masks phone numbers inside any string
(messages, exception texts and stack traces, ids such as ``phone:+66…``).
"""

from __future__ import annotations

import logging
import re
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from chalicelib.settings import settings

if TYPE_CHECKING:
    from aws_lambda_powertools.logging import Logger

REDACTED = "[redacted]"
# Keys whose value is personal data whatever it holds: dropped from every log line.
PERSONAL_KEYS = frozenset({"name", "first_name", "last_name", "full_name", "display_name",
                           "customer_name", "nickname", "text", "body_text"})
# E.164 (also percent-encoded, as in a path) and national forms of a phone number, written
# with or without separators; a 13-digit epoch in ms starts with 1, so it is not taken for one.
PHONE = re.compile(r"(?:\+|%2B)\d[\d \-().]{5,18}\d|(?<![\w.])0\d{1,2}[ \-]?\d{3}[ \-]?\d{3,4}(?!\d)",
                   re.IGNORECASE)

_service: Logger | None = None
_lock = threading.Lock()


def is_personal(key: str) -> bool:
    lowered = key.lower()
    return lowered in PERSONAL_KEYS or "phone" in lowered


def scrub(value: Any) -> Any:
    """``value`` with personal keys redacted and phone numbers masked, recursively."""
    if isinstance(value, str):
        return PHONE.sub("+***", value)
    if isinstance(value, dict):
        return {k: REDACTED if isinstance(k, str) and is_personal(k) else scrub(v)
                for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [scrub(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return scrub(str(value))    # what JSON would print for it (an exception, a Decimal…)


def _scrubbing_formatter() -> Any:
    """Powertools' JSON, with ``log(...)`` fields at the top level and personal data removed.

    Powertools' logging (and the asyncio it pulls in) costs the API's cold import about 40 ms
    (python -X importtime), so it is imported when the first line is written, not before."""
    from aws_lambda_powertools.logging.formatter import LambdaPowertoolsFormatter

    class ScrubbingFormatter(LambdaPowertoolsFormatter):
        def serialize(self, log: dict[str, Any]) -> str:  # type: ignore[override]
            fields = log.pop("fields", None)
            if isinstance(fields, dict):
                for key, value in fields.items():
                    log.setdefault(key, value)
            return super().serialize(scrub(log))

    return ScrubbingFormatter(utc=True, use_rfc3339=True)


class _StderrHandler(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is when a line is written (Lambda sends it to CloudWatch;
    a test's capture sees it; stdout stays free for EMF metrics and command output)."""

    def __init__(self) -> None:
        logging.Handler.__init__(self)

    @property
    def stream(self) -> Any:  # type: ignore[override]
        return sys.stderr

    @stream.setter
    def stream(self, _value: Any) -> None:
        pass

    def emit(self, record: logging.LogRecord) -> None:
        record.logger = record.name     # which component logged it, as a top-level key
        super().emit(record)


def service_logger() -> Logger:
    """The service's Powertools Logger (created on first use, level from settings)."""
    global _service
    if _service is None:
        with _lock:
            if _service is None:
                from aws_lambda_powertools.logging import Logger

                cfg = settings()
                parent = logging.getLogger(cfg.service)
                for handler in [h for h in parent.handlers if isinstance(h, _FirstLine)]:
                    parent.removeHandler(handler)
                _service = Logger(service=cfg.service, level=cfg.log_level.upper(),
                                  logger_handler=_StderrHandler(),
                                  logger_formatter=_scrubbing_formatter())
                # One line per event: not again through the root logger's handlers (Lambda's
                # own, or a library's basicConfig) in another format.
                parent.propagate = False
    return _service


class _FirstLine(logging.Handler):
    """Stands in for the Powertools handler until the first line is written: then creates
    the service logger (which replaces it) and hands the line to its handler."""

    def emit(self, record: logging.LogRecord) -> None:
        service = service_logger()
        for handler in logging.getLogger(service.service).handlers:
            if record.levelno >= handler.level:
                handler.handle(record)


def _parent() -> logging.Logger:
    """The service's logger as the stdlib sees it, ready before Powertools is loaded: the
    level from settings, no propagation, and the stand-in handler."""
    cfg = settings()
    parent = logging.getLogger(cfg.service)
    if _service is None and not any(isinstance(h, _FirstLine) for h in parent.handlers):
        with _lock:
            if _service is None and not any(isinstance(h, _FirstLine) for h in parent.handlers):
                parent.setLevel(cfg.log_level.upper())
                parent.propagate = False
                parent.addHandler(_FirstLine())
    return parent


def configure() -> Logger:
    """Re-read the level from settings (a test or a long-lived process that changed it)."""
    logger = service_logger()
    logger.setLevel(settings().log_level.upper())
    return logger


def get_logger(name: str) -> logging.Logger:
    """A component's logger, a child of the service logger (its lines carry ``logger``)."""
    return logging.getLogger(f"{_parent().name}.{name}")


def log(logger: logging.Logger, msg: str, level: int = logging.INFO, **fields: Any) -> None:
    """Log one structured event; pass ids (``seller_id``, ``plan_id``…) as fields. Personal
    fields are redacted by the formatter, so passing one by mistake leaks nothing."""
    logger.log(level, msg, extra={"fields": fields}, stacklevel=2)


@contextmanager
def context(**keys: Any) -> Iterator[None]:
    """Keys on every line this thread logs inside the block (e.g. the seller and plan of the
    queue record being processed); ``None`` values are left out."""
    keys = {k: v for k, v in keys.items() if v is not None}
    logger = service_logger()
    logger.thread_safe_append_keys(**keys)
    try:
        yield
    finally:
        logger.thread_safe_remove_keys(keys)

