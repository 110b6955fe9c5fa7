"""Logging: the organization and mailbox on every line, JSON lines on request, secrets masked.

- `log_context(organization=..., mailbox=...)` sets context variables for the work it wraps (the task
  wrappers of sync, processing and outbox use it); `ContextFilter` copies them onto every record, so
  every line logged inside, by any module, says which organization and mailbox it is about.
- `JsonFormatter` writes one JSON object per line (POSTROOM_LOG_FORMAT=json); `PlainFormatter` the
  classic text line with the context appended.
- `RedactFilter` masks what looks like a secret in the message and its arguments: password=... style
  pairs, Authorization headers, Fernet tokens, Postroom API tokens, and every mailbox password this
  process has decrypted (`remember_secret`, called by `postroom.crypto`).
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import Any

MASK = "[redacted]"

_organization: contextvars.ContextVar[str] = contextvars.ContextVar("log_organization", default="")
_mailbox: contextvars.ContextVar[str] = contextvars.ContextVar("log_mailbox", default="")


@contextmanager
def log_context(organization: object = None, mailbox: object = None) -> Iterator[None]:
    """Tag every log line inside with the organization (slug) and mailbox (id); None keeps the outer."""
    tokens = []
    if organization is not None:
        tokens.append((_organization, _organization.set(str(organization))))
    if mailbox is not None:
        tokens.append((_mailbox, _mailbox.set(str(mailbox))))
    try:
        yield
    finally:
        for variable, token in reversed(tokens):
            variable.reset(token)


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.organization = _organization.get()
        record.mailbox = _mailbox.get()
        return True


# Secrets this process has seen in the clear (decrypted mailbox passwords). Kept only as long as the
# process lives; a value shorter than MIN_REMEMBERED would mask ordinary words.
MIN_REMEMBERED = 6
_remembered: set[str] = set()
_remembered_lock = threading.Lock()


def remember_secret(value: str) -> None:
    if len(value) >= MIN_REMEMBERED:
        with _remembered_lock:
            _remembered.add(value)


_PATTERNS = (
    # password=..., "password": "...", secret: ..., token=..., api_key=... (value up to a delimiter)
    re.compile(r"""(?i)((?:pass(?:word|wd)?|secret|token|api[_-]?key)["']?\s*[:=]\s*["']?)([^\s"',;&}]+)"""),
    re.compile(r"(?i)(authorization:?\s*(?:bearer|basic)\s+)(\S+)"),
    re.compile(r"()(gAAAAA[A-Za-z0-9_\-]{20,}={0,2})"),  # Fernet tokens (ciphertext of a secret)
    re.compile(r"()(pr_[A-Za-z0-9_\-]{16,})"),  # Postroom API tokens
)


def redact(text: str) -> str:
    for pattern in _PATTERNS:
        text = pattern.sub(lambda match: match.group(1) + MASK, text)
    with _remembered_lock:
        remembered = sorted(_remembered, key=len, reverse=True)
    for secret in remembered:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


class RedactFilter(logging.Filter):
    """Masks secrets in the final message (and the exception text) before any handler formats it."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class PlainFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        context = " ".join(
            f"{key}={value}" for key in ("organization", "mailbox") if (value := getattr(record, key, ""))
        )
        return f"{line} [{context}]" if context else line


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, organization, mailbox, process,
    thread, and `exception` when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "organization": getattr(record, "organization", ""),
            "mailbox": getattr(record, "mailbox", ""),
            "process": record.process,
            "thread": record.threadName,
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            entry["exception"] = record.exc_text
        return json.dumps(entry, ensure_ascii=False)


def logging_config(log_format: str, level: str) -> dict[str, Any]:
    """The LOGGING setting: console handler, plain or JSON, with context and redaction on every line."""
    if log_format not in {"plain", "json"}:
        raise ValueError(f"POSTROOM_LOG_FORMAT={log_format!r} is not plain or json")
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {
            "context": {"()": "postroom.logs.ContextFilter"},
            "redact": {"()": "postroom.logs.RedactFilter"},
        },
        "formatters": {
            "plain": {"()": "postroom.logs.PlainFormatter"},
            "json": {"()": "postroom.logs.JsonFormatter"},
        },
        "handlers": {
            "console": {
                "class": "logging.StreamHandler",
                "formatter": log_format,
                "filters": ["context", "redact"],
            }
        },
        "root": {"handlers": ["console"], "level": level},
        "loggers": {"django.db.backends": {"level": "WARNING"}},
    }
