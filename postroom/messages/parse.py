"""Raw RFC 5322 bytes -> the fields Postroom stores. `parse()` never raises.

Speed matters (sync ingests 1,000+ messages/s), so this avoids `email.policy.default`, whose header
objects and `get_content()` are several times slower: the structure comes from `mime.parse_tree` (which
never reads attachment bytes), header values are decoded here (RFC 2047, 8-bit), and only the parts we
keep are decoded — the text and HTML bodies. Attachments are described (name, type, size, MIME part
path) but not decoded: their bytes stay in the raw message and can be extracted by path when asked.

Whatever the sender got wrong is collected in `ParsedMessage.problems`; the message is still stored.
"""

from __future__ import annotations

import hashlib
import html
import quopri
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import Message as Headers
from email.utils import getaddresses, parsedate_to_datetime
from functools import cached_property

from postroom.messages.decode import Problems, clean, decode_base64, decode_bytes, decode_words, header_text
from postroom.messages.identity import content_hash, message_id_list, normalize_message_id, split_raw
from postroom.messages.mime import Part, parse_tree

SNIPPET_LENGTH = 200
SNIPPET_SOURCE = 4000  # collapse whitespace in a prefix only: bodies can be megabytes
MAX_LINE = 998  # RFC 5322 section 2.1.1
Address = tuple[str, str]
Fields = dict[str, list[str]]

_X_AUTOREPLY = ("x-autoreply", "x-autorespond", "x-autoresponder", "x-autoresponse")
_TAG = re.compile(r"<[^>]*>")
_INVISIBLE = re.compile(r"<(style|script|head)\b.*?</\1\s*>", re.IGNORECASE | re.DOTALL)
_UNSAFE_FILENAME = re.compile(r"[\x00-\x1f\x7f<>:\"|?*]")
# The shapes most address headers take: "a@b.example" and "Ann Lee <a@b.example>", in plain ASCII words.
# getaddresses tokenizes RFC 5322 in Python (~6 µs an address, 5-7% of parsing bench.sync's mix); for these
# shapes `_simple_addresses` gives its exact result with one regular expression (see its test).
_PLAIN_ADDRESS = r"[A-Za-z0-9_%+-]+(?:\.[A-Za-z0-9_%+-]+)*@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*"
_PLAIN_WORD = r"[A-Za-z0-9][A-Za-z0-9'_-]*"
_SIMPLE_ADDRESS = re.compile(
    rf"\s*(?:((?:{_PLAIN_WORD}\s+)*{_PLAIN_WORD})?\s*<({_PLAIN_ADDRESS})>|({_PLAIN_ADDRESS}))\s*", re.ASCII
)


@dataclass
class ParsedAttachment:
    filename: str
    content_type: str
    size: int
    content_id: str
    disposition: str  # "inline" or "attachment"
    part_path: str  # IMAP-style section number, e.g. "2" or "1.2"


@dataclass
class ParsedMessage:
    size: int
    raw_sha256: str
    content_hash: str
    message_id: str = ""
    subject: str = ""
    from_name: str = ""
    from_address: str = ""
    to: list[Address] = field(default_factory=list)
    cc: list[Address] = field(default_factory=list)
    bcc: list[Address] = field(default_factory=list)
    reply_to: list[Address] = field(default_factory=list)
    date: datetime | None = None
    in_reply_to: str = ""
    references: list[str] = field(default_factory=list)
    auto_submitted: str = ""
    precedence: str = ""
    list_id: str = ""
    list_unsubscribe: bool = False
    x_autoreply: bool = False
    x_auto_response_suppress: str = ""
    return_path: str = ""
    content_language: str = ""
    is_delivery_report: bool = False
    text: str = ""
    html: str = ""
    attachments: list[ParsedAttachment] = field(default_factory=list)
    problems: Problems = field(default_factory=list)

    # Derived once, at the end of parse() (see _derive): a ParsedMessage is not changed after that.
    @cached_property
    def has_attachments(self) -> bool:
        return any(a.disposition == "attachment" for a in self.attachments)

    @cached_property
    def snippet(self) -> str:
        text = self.text[:SNIPPET_SOURCE]
        source = text if text.strip() else html_to_text(self.html[: SNIPPET_SOURCE * 4])
        return " ".join(source[:SNIPPET_SOURCE].split())[:SNIPPET_LENGTH]  # whitespace runs -> one space

    @cached_property
    def parse_error(self) -> str:
        return "; ".join(dict.fromkeys(self.problems))

    @cached_property
    def thread_keys(self) -> list[str]:
        """Every Message-ID that ties this message to a conversation: its own and those it refers to."""
        keys = [self.message_id, self.in_reply_to, *self.references]
        return [k for k in dict.fromkeys(keys) if k]

    @cached_property
    def is_thread_root(self) -> bool:
        return not self.in_reply_to and not self.references


def parse(raw: bytes) -> ParsedMessage:
    """Parse raw message bytes. Never raises: an unexpected failure keeps what was parsed so far and
    records the failure in `problems`."""
    parsed = ParsedMessage(size=len(raw), raw_sha256=hashlib.sha256(raw).hexdigest(), content_hash="")
    try:
        parsed.content_hash = content_hash(raw)
        _check_raw(raw, parsed.problems)
        root = parse_tree(raw, parsed.problems)
        _read_headers(root.headers, parsed)
        _read_parts(root, parsed)
    except Exception as exc:  # noqa: BLE001 - the contract: a bad message is stored raw and flagged
        parsed.problems.append(f"parser failed: {type(exc).__name__}")
    if not parsed.content_hash:
        parsed.content_hash = parsed.raw_sha256
    _derive(parsed)
    return parsed


def _derive(parsed: ParsedMessage) -> None:
    """Compute the derived values now, so they travel with the message: parsing may run in a helper
    process, and the process that stores is the busier one."""
    for name in ("has_attachments", "snippet", "parse_error", "thread_keys", "is_thread_root"):
        getattr(parsed, name)


def html_to_text(markup: str) -> str:
    """Rough visible text of HTML, for snippets and for bodies that have no plain-text part."""
    if not markup:
        return ""
    return html.unescape(_TAG.sub(" ", _INVISIBLE.sub(" ", markup)))


def _check_raw(raw: bytes, problems: Problems) -> None:
    head, _body = split_raw(raw)
    if b"\x00" in raw:
        problems.append("NUL bytes in the message")
    if any(len(line) > MAX_LINE + 2 for line in head.split(b"\n")):
        problems.append(f"header line longer than {MAX_LINE} characters")


def raw_fields(headers: Headers) -> Fields:
    """Header values by lower-case name, exactly as received. (`Message.get` would replace 8-bit bytes
    before we can tell UTF-8 from Latin-1.)"""
    fields: Fields = {}
    for name, value in headers.raw_items():
        fields.setdefault(name.lower(), []).append(str(value))
    return fields


def _header(fields: Fields, name: str, problems: Problems) -> str:
    values = fields.get(name)
    if not values:
        return ""
    return decode_words(header_text(values[0], problems), problems).strip()


def _raw_header(fields: Fields, name: str, problems: Problems) -> str:
    values = fields.get(name)
    return clean(header_text(values[0], problems)) if values else ""


def _read_headers(headers: Headers, parsed: ParsedMessage) -> None:
    problems = parsed.problems
    mime = raw_fields(headers)
    parsed.message_id = normalize_message_id(_raw_header(mime, "message-id", problems))
    parsed.subject = _header(mime, "subject", problems)
    parsed.from_name, parsed.from_address = (_addresses(mime, "from", problems) or [("", "")])[0]
    parsed.to = _addresses(mime, "to", problems)
    parsed.cc = _addresses(mime, "cc", problems)
    parsed.bcc = _addresses(mime, "bcc", problems)
    parsed.reply_to = _addresses(mime, "reply-to", problems)
    parsed.date = _date(_raw_header(mime, "date", problems))
    in_reply_to = message_id_list(_raw_header(mime, "in-reply-to", problems))
    parsed.in_reply_to = in_reply_to[0] if in_reply_to else ""
    parsed.references = message_id_list(_raw_header(mime, "references", problems))
    _read_auto_response_headers(mime, parsed)


def _read_auto_response_headers(mime: Fields, parsed: ParsedMessage) -> None:
    problems = parsed.problems
    parsed.auto_submitted = _header(mime, "auto-submitted", problems).lower()[:100]
    parsed.precedence = _header(mime, "precedence", problems).lower()[:50]
    parsed.list_id = _header(mime, "list-id", problems)[:500]
    parsed.list_unsubscribe = "list-unsubscribe" in mime
    parsed.x_autoreply = any(name in mime for name in _X_AUTOREPLY)
    parsed.x_auto_response_suppress = _header(mime, "x-auto-response-suppress", problems)[:200]
    return_path = _raw_header(mime, "return-path", problems).strip()
    # "<>" is the null reverse path of bounces and auto-replies: kept as "<>" so it differs from absent.
    parsed.return_path = "<>" if return_path == "<>" else return_path.strip("<> ").lower()[:320]
    parsed.content_language = _header(mime, "content-language", problems)[:100]


def _addresses(mime: Fields, name: str, problems: Problems) -> list[Address]:
    values = mime.get(name, [])
    if not values:
        return []
    texts = [unfold_text(header_text(str(v), problems)) for v in values]
    result: list[Address] = []
    pairs = _simple_addresses(texts)
    for display, address in getaddresses(texts) if pairs is None else pairs:
        display = decode_words(display, problems).strip()
        address = clean(address).strip()
        if display or address:
            result.append((display, address.lower() if "@" in address else address))
    return result


def _simple_addresses(texts: list[str]) -> list[tuple[str, str]] | None:
    """`getaddresses(texts)` when every comma-separated piece has one of the plain shapes, else None."""
    pairs: list[tuple[str, str]] = []
    for text in texts:
        for piece in text.split(","):
            match = _SIMPLE_ADDRESS.fullmatch(piece)
            if match is None:
                return None
            name, bracketed, bare = match.groups()
            pairs.append((" ".join(name.split()) if name else "", bracketed or bare))
    return pairs


def unfold_text(value: str) -> str:
    return value.replace("\r\n", "").replace("\n", "")


def _date(value: str) -> datetime | None:
    if not value.strip():
        return None
    try:
        date = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if date.tzinfo is None:
        date = date.replace(tzinfo=UTC)
    if not 1970 <= date.year <= 9000:
        return None
    return date


def _read_parts(root: Part, parsed: ParsedMessage) -> None:
    if root.content_type == "multipart/report":
        parsed.is_delivery_report = True
    for part in root.leaves():
        content_type = part.content_type
        if content_type in ("message/delivery-status", "message/disposition-notification"):
            parsed.is_delivery_report = True
        if _is_attachment(part.headers, content_type):
            parsed.attachments.append(_describe_attachment(part, content_type, parsed.problems))
        elif content_type == "text/plain" and not parsed.text:
            parsed.text = _decoded_text(part, parsed.problems)
        elif content_type == "text/html" and not parsed.html:
            parsed.html = _decoded_text(part, parsed.problems)


def _is_attachment(headers: Headers, content_type: str) -> bool:
    disposition = _disposition(headers)
    if disposition == "attachment":
        return True
    if content_type in ("text/plain", "text/html") and not headers.get_param("name"):
        return False
    return bool(headers.get_filename() or headers.get("content-id") or not content_type.startswith("text/"))


def _disposition(headers: Headers) -> str:
    return str(headers.get("content-disposition", "")).split(";", 1)[0].strip().lower()


def _describe_attachment(part: Part, content_type: str, problems: Problems) -> ParsedAttachment:
    disposition = _disposition(part.headers)
    if disposition not in ("inline", "attachment"):
        disposition = "inline" if part.headers.get("content-id") else "attachment"
    filename = _filename(part.headers, problems)
    if not filename and content_type == "message/rfc822":
        filename = "forwarded message.eml"
    return ParsedAttachment(
        filename=sanitize_filename(filename),
        content_type=clean(content_type)[:200],
        size=_decoded_size(part),
        content_id=normalize_message_id(_raw_header(raw_fields(part.headers), "content-id", problems)),
        disposition=disposition,
        part_path=part.path or "1",
    )


def _filename(headers: Headers, problems: Problems) -> str:
    """RFC 2231 (`filename*=utf-8''...`) via compat32, then RFC 2047 words, which many clients use."""
    try:
        name = headers.get_filename() or headers.get_param("name") or ""
    except (LookupError, ValueError, UnicodeError):
        name = ""
    if isinstance(name, tuple):  # an undecodable RFC 2231 value: (charset, language, text)
        name = name[2]
    return decode_words(header_text(str(name), problems), problems)


def sanitize_filename(name: str) -> str:
    """A filename safe to offer for download: no directories, control or reserved characters."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = _UNSAFE_FILENAME.sub("_", name).strip().lstrip(".")
    return name[:255] or "attachment"


def _transfer_encoding(part: Part) -> str:
    return str(part.headers.get("content-transfer-encoding", "")).strip().lower()


def _decoded_size(part: Part) -> int:
    """Size after transfer decoding, estimated without decoding: attachments can be large."""
    data = part.body
    if _transfer_encoding(part) == "base64":
        line_breaks = data.count(b"\n")
        significant = len(data) - line_breaks * (2 if b"\r\n" in data[:200] else 1)
        return max(0, significant * 3 // 4 - data.rstrip()[-2:].count(b"="))
    return len(data)


def decode_part(part: Part, problems: Problems) -> bytes:
    """A part's bytes with its transfer encoding (base64, quoted-printable) undone."""
    encoding = _transfer_encoding(part)
    if encoding == "base64":
        return decode_base64(part.body, problems, "body")
    if encoding == "quoted-printable":
        return quopri.decodestring(part.body)
    return part.body


def _decoded_text(part: Part, problems: Problems) -> str:
    text = decode_bytes(decode_part(part, problems), part.headers.get_content_charset(), problems, "body")
    return text.replace("\r\n", "\n")
