"""Handing stored mail to a browser as a download: an attachment's decoded bytes or a message's raw bytes.

A sender chooses the file name and content type, so neither is trusted: the name loses path separators,
control characters and quotes; the type is application/octet-stream unless it is one of a few inert
types; and every download is `Content-Disposition: attachment` with `nosniff` and a sandboxing CSP, so
the browser never renders it as a page of ours. Bytes are decoded and sent in chunks as they stream.
"""

from __future__ import annotations

import base64
import binascii
import quopri
import re
import unicodedata
from collections.abc import Iterator
from urllib.parse import quote

from django.http import Http404, StreamingHttpResponse

from postroom.messages.mime import Part, find_part
from postroom.messages.models import Attachment, Message, MessageRaw

CHUNK = 1 << 20
# Types a browser shows without running anything; any other type is served as opaque bytes.
INERT_TYPES = {
    "application/pdf",
    "image/png",
    "image/jpeg",
    "image/gif",
    "image/webp",
    "text/plain",
    "text/csv",
    "message/rfc822",
}
MAX_FILENAME = 150
_UNSAFE_NAME = re.compile(r'[\x00-\x1f\x7f/\\"\'<>:*?|;]+')
_WHITESPACE = re.compile(r"\s+")


def safe_filename(name: str, fallback: str) -> str:
    """A file name that cannot name a path or break a header: NFC, no separators, control characters,
    quotes or reserved characters, no leading dots, at most MAX_FILENAME characters."""
    cleaned = _UNSAFE_NAME.sub("_", unicodedata.normalize("NFC", name))
    cleaned = _WHITESPACE.sub(" ", cleaned).strip(" .")
    if not cleaned:
        return fallback
    stem, dot, extension = cleaned.rpartition(".")
    if dot and len(extension) <= 10 and len(cleaned) > MAX_FILENAME:
        return stem[: MAX_FILENAME - len(extension) - 1] + "." + extension
    return cleaned[:MAX_FILENAME]


def safe_content_type(content_type: str) -> str:
    kind = content_type.split(";")[0].strip().lower()
    return kind if kind in INERT_TYPES else "application/octet-stream"


def download_response(chunks: Iterator[bytes], filename: str, content_type: str) -> StreamingHttpResponse:
    """A streaming download that the browser saves and never renders in our origin."""
    response = StreamingHttpResponse(chunks, content_type=safe_content_type(content_type))
    ascii_name = filename.encode("ascii", "replace").decode("ascii").replace("?", "_")
    response["Content-Disposition"] = (
        f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(filename)}"
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox"
    response["Cache-Control"] = "private, no-store"
    return response


def _raw_bytes(message_id: int) -> bytes:
    return bytes(MessageRaw.objects.values_list("data", flat=True).get(message_id=message_id))


def raw_download(message: Message) -> StreamingHttpResponse:
    """The message exactly as fetched, as an .eml file."""
    raw = _raw_bytes(message.pk)
    chunks = (raw[start : start + CHUNK] for start in range(0, len(raw), CHUNK))
    return download_response(chunks, f"message-{message.pk}.eml", "message/rfc822")


def attachment_download(attachment: Attachment) -> StreamingHttpResponse:
    """The attachment's decoded bytes, cut from the raw message by its part path."""
    part = find_part(_raw_bytes(attachment.message_id), attachment.part_path)
    if part is None:  # the raw message no longer has the part the parser once found
        raise Http404("This attachment can no longer be read from the stored message.")
    name = safe_filename(attachment.filename, f"attachment-{attachment.pk}")
    return download_response(decoded_chunks(part), name, attachment.content_type)


def part_bytes(part: Part) -> bytes:
    return b"".join(decoded_chunks(part))


def decoded_chunks(part: Part) -> Iterator[bytes]:
    """The part's body with its Content-Transfer-Encoding undone, a chunk at a time. Broken base64 is
    decoded as far as it goes rather than refused: a damaged file is better than none."""
    encoding = str(part.headers.get("Content-Transfer-Encoding", "")).strip().lower()
    body = part.body
    if encoding == "base64":
        yield from _base64_chunks(body)
    elif encoding == "quoted-printable":
        yield quopri.decodestring(body)
    else:
        yield from (body[start : start + CHUNK] for start in range(0, len(body), CHUNK))


def _base64_chunks(body: bytes) -> Iterator[bytes]:
    pending = b""
    for start in range(0, len(body), CHUNK):
        pending += re.sub(rb"[^A-Za-z0-9+/]", b"", body[start : start + CHUNK])
        usable = len(pending) - len(pending) % 4
        yield _b64(pending[:usable])
        pending = pending[usable:]
    if pending:
        yield _b64(pending + b"=" * (-len(pending) % 4))


def _b64(data: bytes) -> bytes:
    try:
        return base64.b64decode(data)
    except binascii.Error:  # a lone trailing character: nothing more to recover
        return b""


INLINE_IMAGE_TYPES = {"image/png", "image/gif", "image/jpeg", "image/webp"}
MAX_INLINE_IMAGE = 512 * 1024


def inline_image_uris(message: Message, attachments: list[Attachment]) -> dict[str, str]:
    """Content-ID -> `data:` URI for the message's own small images that its HTML shows by `cid:`, so
    they display inside the sandboxed frame without any request. Others are left out (downloadable)."""
    wanted = [
        a
        for a in attachments
        if a.content_id and a.content_type.lower() in INLINE_IMAGE_TYPES and a.size <= MAX_INLINE_IMAGE
    ]
    if not wanted:
        return {}
    raw = _raw_bytes(message.pk)
    uris = {}
    for attachment in wanted:
        part = find_part(raw, attachment.part_path)
        if part is not None:
            encoded = base64.b64encode(part_bytes(part)).decode("ascii")
            uris[attachment.content_id.lower()] = f"data:{attachment.content_type.lower()};base64,{encoded}"
    return uris
