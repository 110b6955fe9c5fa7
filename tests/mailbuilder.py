"""A tiny builder of real RFC 5322 message bytes, so no test hand-writes the same headers again.

Malformed mail that no library would produce lives as .eml files in tests/eml/ instead.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid

_seq = itertools.count(1)
_EPOCH = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
NO_ID = ""  # pass message_id=NO_ID for a message without a Message-ID header


def build(
    *,
    subject: str | None = "Hello",
    sender: str = "Ann Sender <ann@example.org>",
    to: str = "Support <support@acme.example>",
    message_id: str | None = None,
    in_reply_to: str | None = None,
    references: Sequence[str] = (),
    body: str = "Hello there.\n",
    html: str | None = None,
    attachments: Sequence[tuple[str, str, bytes]] = (),
    headers: Mapping[str, str] | None = None,
    charset: str = "utf-8",
    date: datetime | None = None,
    raw_headers: Sequence[bytes] = (),
) -> bytes:
    """Message bytes with CRLF line endings. `message_id=None` makes a fresh id; `NO_ID` omits it.
    Attachments are (filename, content type, bytes); `headers` are added last. `raw_headers` are header
    lines put verbatim at the top, for encodings no library writes (pass subject=None to give your own)."""
    n = next(_seq)
    msg = EmailMessage()
    if subject is not None:
        msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = to
    msg["Date"] = format_datetime(date or _EPOCH + timedelta(minutes=n))
    if message_id is None:
        message_id = make_msgid(domain="mail.example.org")
    if message_id:
        msg["Message-ID"] = message_id
    if in_reply_to:
        msg["In-Reply-To"] = in_reply_to
    if references:
        msg["References"] = " ".join(references)
    msg.set_content(body, charset=charset)
    if html is not None:
        msg.add_alternative(html, subtype="html")
    for filename, content_type, data in attachments:
        maintype, subtype = content_type.split("/", 1)
        msg.add_attachment(data, maintype=maintype, subtype=subtype, filename=filename)
    for name, value in (headers or {}).items():  # last: set_content() drops Content-* headers
        msg[name] = value
    return b"".join(line + b"\r\n" for line in raw_headers) + msg.as_bytes(policy=SMTP)


def reply_to(
    parent: bytes,
    *,
    message_id: str | None = None,
    sender: str = "Bob Replier <bob@example.net>",
    body: str = "Thanks!\n",
    references: bool = True,
    in_reply_to: bool = True,
) -> bytes:
    """A reply to `parent`: In-Reply-To and/or References taken from the parent's headers."""
    original = message_from_bytes(parent)
    parent_id = str(original["Message-ID"])
    chain = [*str(original.get("References", "")).split(), parent_id]
    return build(
        subject="Re: " + str(original["Subject"]),
        sender=sender,
        message_id=message_id,
        in_reply_to=parent_id if in_reply_to else None,
        references=chain if references else (),
        body=body,
    )


def with_trace(raw: bytes, mailbox: str, hop: int = 1) -> bytes:
    """The same message as a receiving server would store it for `mailbox`: trace headers prepended."""
    trace = (
        f"Return-Path: <ann@example.org>\r\n"
        f"Delivered-To: {mailbox}\r\n"
        f"Received: from mx{hop}.acme.example (mx{hop}.acme.example [192.0.2.{hop}])\r\n"
        f"\tby imap.acme.example with LMTP id {hop}abc; Sun, 1 Mar 2026 10:0{hop}:00 +0000\r\n"
        f"X-Spam-Status: No, score=-{hop}.0\r\n"
        f"Authentication-Results: mx{hop}.acme.example; dkim=pass\r\n"
    )
    return trace.encode() + raw
