"""Turning mail's bytes and encoded words into clean text, whatever the sender got wrong.

Every function here returns text that PostgreSQL accepts (no NUL, no lone surrogates) and never raises.
Problems are reported through a `Problems` list so the caller can flag the message without losing it.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import quopri
import re

Problems = list[str]

# Names seen in real mail that Python does not know, or knows as a narrower charset than senders mean.
_CHARSET_ALIASES = {
    "iso-8859-8-i": "iso-8859-8",
    "iso-8859-6-i": "iso-8859-6",
    "ks_c_5601-1987": "cp949",
    "gb2312": "gb18030",
    "gbk": "gb18030",
    "x-sjis": "shift_jis",
    "shift-jis": "shift_jis",
    "windows-874": "cp874",
    "unicode-1-1-utf-7": "utf-7",
    "x-unknown": "",
    "unknown-8bit": "",
    "x-user-defined": "",
    "default": "",
}
# Declaring ASCII or Latin-1 while sending Windows-1252 is so common that browsers treat them as one.
_WINDOWS_1252_FAMILY = {"us-ascii", "ascii", "iso-8859-1", "latin-1", "latin1", "iso_8859-1"}
_SURROGATES = re.compile("[\ud800-\udfff]")
_ENCODED_WORD = re.compile(r"=\?([^?\s]+)\?([bBqQ])\?([^?]*)\?=")
_ONLY_SPACE = re.compile(r"[ \t\r\n]*")
_FOLD = re.compile(r"\r?\n(?=[ \t])")


def lookup_charset(name: str | None) -> str:
    """The Python codec for a declared charset, or '' when it is missing or unknown."""
    if not name:
        return ""
    name = name.strip().strip("\"'").lower()
    name = _CHARSET_ALIASES.get(name, name)
    if not name:
        return ""
    if name in _WINDOWS_1252_FAMILY:
        return "cp1252"
    try:
        return codecs.lookup(name).name
    except (LookupError, ValueError):
        return ""


def clean(text: str) -> str:
    """Text safe for any database column: NUL and lone surrogates replaced."""
    if "\x00" in text:
        text = text.replace("\x00", "\ufffd")
    if text.isascii():
        return text
    try:
        text.encode("utf-8")  # fails exactly on lone surrogates, at C speed
    except UnicodeEncodeError:
        text = _SURROGATES.sub("\ufffd", text)
    return text


def decode_bytes(data: bytes, charset: str | None, problems: Problems, what: str = "text") -> str:
    """Decode `data` in its declared charset; on an unknown or lying charset fall back to UTF-8, then
    Windows-1252 (which maps every byte), and say so in `problems`."""
    codec = lookup_charset(charset)
    if codec:
        try:
            return clean(data.decode(codec))
        except (UnicodeDecodeError, LookupError):
            if codec != "cp1252":
                problems.append(f"{what}: bytes are not valid {charset}; decoded as a fallback")
    elif charset and charset.strip().lower() not in _CHARSET_ALIASES:
        problems.append(f"{what}: unknown charset {charset[:40]!r}; decoded as a fallback")
    try:
        return clean(data.decode("utf-8"))
    except UnicodeDecodeError:
        return clean(data.decode("cp1252", errors="replace"))


def header_text(value: str, problems: Problems) -> str:
    """Header value as parsed by compat32 (8-bit bytes kept as surrogate escapes) to real text.

    Raw 8-bit headers are accepted when they are UTF-8 (RFC 6532) and flagged otherwise."""
    if not _SURROGATES.search(value):
        return value
    data = value.encode("ascii", "surrogateescape")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        problems.append("headers: raw 8-bit bytes that are not UTF-8; decoded as windows-1252")
        return data.decode("cp1252", errors="replace")


def unfold(value: str) -> str:
    return _FOLD.sub("", value)


def decode_words(value: str, problems: Problems) -> str:
    """Decode RFC 2047 encoded words in an (unfolded) header value.

    Whitespace between adjacent encoded words is dropped as the RFC says, and adjacent words in one
    charset are joined before decoding so a multi-byte character split across two words survives."""
    value = unfold(value)
    if "=?" not in value:
        return clean(value)
    out: list[str] = []
    pending: bytearray = bytearray()
    pending_charset = ""
    pos = 0

    def flush() -> None:
        nonlocal pending, pending_charset
        if pending:
            out.append(decode_bytes(bytes(pending), pending_charset, problems, "header"))
        pending = bytearray()
        pending_charset = ""

    for match in _ENCODED_WORD.finditer(value):
        gap = value[pos : match.start()]
        if gap and not (pending and _ONLY_SPACE.fullmatch(gap)):
            flush()
            out.append(gap)
        charset = match.group(1).split("*", 1)[0]  # RFC 2231 language suffix
        data = _decode_word(match.group(2), match.group(3), problems)
        if pending and charset.lower() != pending_charset.lower():
            flush()
        pending_charset = charset
        pending += data
        pos = match.end()
    flush()
    out.append(value[pos:])
    return clean("".join(out))


def _decode_word(kind: str, text: str, problems: Problems) -> bytes:
    if kind in "qQ":
        return quopri.decodestring(text.replace("_", " ").encode("ascii", "replace"), header=False)
    return decode_base64(text.encode("ascii", "replace"), problems, "header")


def decode_base64(data: bytes, problems: Problems, what: str) -> bytes:
    """Lenient base64: characters outside the alphabet are skipped, a dangling last character dropped
    and missing padding supplied; any of that is flagged."""
    try:
        return base64.b64decode(data, validate=False)
    except (binascii.Error, ValueError):
        problems.append(f"{what}: invalid base64")
    stripped = re.sub(rb"[^A-Za-z0-9+/]", b"", data)
    if len(stripped) % 4 == 1:
        stripped = stripped[:-1]
    try:
        return base64.b64decode(stripped + b"=" * (-len(stripped) % 4))
    except (binascii.Error, ValueError):
        return b""
