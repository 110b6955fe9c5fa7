"""What makes two copies of a message the same message: normalised Message-IDs and the content hash.

A message's identity in an organization is (normalised Message-ID, content hash). The hash covers what
the author wrote — the author's headers and the body — and none of the trace headers that each receiving
server adds (Received, Delivered-To, Return-Path, DKIM/ARC, X-Spam-*, ...). So the copy delivered to
support@ and the copy delivered to sales@ hash the same, while a sender that reuses a Message-ID for
different content gets a second message.
"""

from __future__ import annotations

import hashlib
import re

MESSAGE_ID_MAX = 255

# An allow-list rather than a deny-list of trace headers: servers invent new trace headers all the time,
# the author's headers are a short, stable list. Bcc is left out: the sender's copy has it, others don't.
HASHED_HEADERS = (
    b"from",
    b"sender",
    b"to",
    b"cc",
    b"subject",
    b"date",
    b"message-id",
    b"in-reply-to",
    b"references",
    b"mime-version",
    b"content-type",
    b"content-transfer-encoding",
)
_ANGLE_ID = re.compile(r"<([^<>]*)>")
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_FIELD_START = re.compile(rb"^([!-9;-~]+)[ \t]*:", re.MULTILINE)
_WHITESPACE = re.compile(rb"\s+")


def normalize_message_id(value: str) -> str:
    """`<ABC@Example.COM> ` -> `abc@example.com`; '' for nothing. Ids too long for an index are
    shortened deterministically (a prefix plus a hash of the whole)."""
    match = _ANGLE_ID.search(value)
    text = match.group(1) if match else value
    text = "".join(text.split()).strip("<>").lower()
    if len(text) > MESSAGE_ID_MAX:
        digest = hashlib.sha256(text.encode("utf-8", "replace")).hexdigest()
        text = f"{text[: MESSAGE_ID_MAX - 65]}#{digest}"
    return text


def message_id_list(value: str) -> list[str]:
    """All ids in a References/In-Reply-To value, in order, without repeats.

    Angle-bracketed ids when there are any (clients append comments and dates to In-Reply-To);
    otherwise whitespace-separated tokens, for the clients that forget the brackets."""
    found = _ANGLE_ID.findall(value)
    tokens = found if found else [t for t in value.split() if "@" in t]
    ids: list[str] = []
    for token in tokens:
        normal = normalize_message_id(token)
        if normal and normal not in ids:
            ids.append(normal)
    return ids


def split_raw(raw: bytes) -> tuple[bytes, bytes]:
    """Header block and body of raw message bytes (body is empty when there is no blank line)."""
    match = _HEADER_END.search(raw)
    if match is None:
        return raw, b""
    return raw[: match.start()], raw[match.end() :]


def content_hash(raw: bytes) -> str:
    """sha256 hex of the author's headers (unfolded, whitespace collapsed, in order) and the body
    without trailing line breaks (IMAP always serves CRLF, so line endings are left as they are)."""
    head, body = split_raw(raw)
    digest = hashlib.sha256()
    for name, value in _fields(head):
        if name in HASHED_HEADERS:
            digest.update(name + b":" + _WHITESPACE.sub(b" ", value).strip() + b"\n")
    digest.update(b"\n")
    end = len(body)
    while end and body[end - 1] in b"\r\n":
        end -= 1
    digest.update(memoryview(body)[:end])
    return digest.hexdigest()


def _fields(head: bytes) -> list[tuple[bytes, bytes]]:
    starts = list(_FIELD_START.finditer(head))
    fields: list[tuple[bytes, bytes]] = []
    for index, match in enumerate(starts):
        end = starts[index + 1].start() if index + 1 < len(starts) else len(head)
        fields.append((match.group(1).lower(), head[match.end() : end]))
    return fields
