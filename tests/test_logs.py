"""Logging: the organization and mailbox on every line inside `log_context`, JSON lines on request,
and secrets masked whatever form they take."""

from __future__ import annotations

import io
import json
import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from postroom import crypto
from postroom.logs import (
    MASK,
    ContextFilter,
    JsonFormatter,
    PlainFormatter,
    RedactFilter,
    log_context,
    redact,
)
from postroom.logs import logging_config as config


@pytest.fixture
def stream() -> Iterator[tuple[logging.Logger, io.StringIO, logging.StreamHandler[io.StringIO]]]:
    """A logger writing through the same filters as the console handler of LOGGING."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.addFilter(ContextFilter())
    handler.addFilter(RedactFilter())
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("postroom.test_logs")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    yield logger, buffer, handler
    logger.removeHandler(handler)


def lines(buffer: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in buffer.getvalue().splitlines()]


def test_json_lines_carry_the_context_of_the_work(stream: Any) -> None:
    logger, buffer, _ = stream
    logger.info("outside")
    with log_context(organization="acme", mailbox=7):
        logger.info("synced %d", 3)
        with log_context(mailbox=8):  # the organization stays
            logger.warning("other mailbox")
        logger.info("back")
    outside, synced, other, back = lines(buffer)
    assert (outside["organization"], outside["mailbox"]) == ("", "")
    assert (synced["organization"], synced["mailbox"], synced["message"]) == ("acme", "7", "synced 3")
    assert (other["organization"], other["mailbox"], other["level"]) == ("acme", "8", "WARNING")
    assert back["mailbox"] == "7"
    assert synced["logger"] == "postroom.test_logs" and synced["time"].endswith("+00:00")


def test_context_is_per_thread(stream: Any) -> None:
    logger, buffer, _ = stream
    with log_context(organization="acme", mailbox=1):
        thread = threading.Thread(target=lambda: logger.info("elsewhere"))
        thread.start()
        thread.join()
    assert lines(buffer)[0]["mailbox"] == ""


def test_exceptions_are_one_json_line_and_redacted(stream: Any) -> None:
    logger, buffer, _ = stream
    try:
        raise RuntimeError("login failed: password=hunter2-secret")
    except RuntimeError:
        logger.exception("sync failed")
    [line] = lines(buffer)
    assert "RuntimeError" in line["exception"]
    assert "hunter2" not in buffer.getvalue()


@pytest.mark.parametrize(
    ("text", "secret"),
    [
        ("connect password=s3cr3t-Value user=bob", "s3cr3t-Value"),
        ('{"password": "p@ss-word-1", "user": "bob"}', "p@ss-word-1"),
        ("PASS: abcdef123", "abcdef123"),
        ("Authorization: Bearer pr_abcdefghijklmnopqrstuvwxyz", "pr_abcdefghijklmnopqrstuvwxyz"),
        ("token issued pr_ZYXWVUTSRQPONMLKJIHGF_0123", "pr_ZYXWVUTSRQPONMLKJIHGF_0123"),
        ("stored gAAAAABmExampleFernetTokenValue_-xyz0123456789== here", "gAAAAABmExampleFernetTokenValue"),
        ("api_key=KEY-123456", "KEY-123456"),
    ],
)
def test_secret_looking_values_are_masked(text: str, secret: str) -> None:
    cleaned = redact(text)
    assert secret not in cleaned and MASK in cleaned


def test_ordinary_text_is_left_alone() -> None:
    text = "mailbox 7: 120 fetched, 3 new; the password field is required"
    assert redact(text) == text


def test_decrypted_mailbox_passwords_are_masked_wherever_they_appear(stream: Any) -> None:
    logger, buffer, _ = stream
    password = "Unguessable-Mailbox-9Q"
    crypto.decrypt(crypto.encrypt(password))  # what the sync does before logging in
    logger.warning("server said: LOGIN user %s rejected", password)
    assert password not in buffer.getvalue()
    assert lines(buffer)[0]["message"] == f"server said: LOGIN user {MASK} rejected"


def test_plain_format_appends_the_context() -> None:
    record = logging.LogRecord("postroom.sync", logging.INFO, __file__, 1, "sync ok", None, None)
    with log_context(organization="acme", mailbox=3):
        ContextFilter().filter(record)
    assert PlainFormatter().format(record).endswith("postroom.sync sync ok [organization=acme mailbox=3]")


def test_logging_config_choices() -> None:
    assert config("json", "INFO")["handlers"]["console"]["formatter"] == "json"
    assert config("plain", "DEBUG")["root"]["level"] == "DEBUG"
    with pytest.raises(ValueError, match="POSTROOM_LOG_FORMAT"):
        config("xml", "INFO")
