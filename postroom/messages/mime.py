"""A fast, forgiving MIME splitter: the tree of parts of raw message bytes, without decoding any of them.

`email.message_from_bytes` walks every line of every part in Python, attachments included, and tops out
near 1,100 messages/s on 50 KB mail here. This splits parts with `bytes.find` on the boundaries and
parses only the small header blocks, so attachment bytes are never touched — they stay in the raw message
and can be read back by part path. Part headers are stored in a compat32 `email.message.Message` (headers
only) so the standard helpers (`get_content_type`, `get_param`, `get_filename`) do the RFC 2045/2231 work.

Malformations (missing boundaries, stray header lines, absurd nesting) are reported, never raised.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email.message import Message as Headers
from email.policy import compat32

MAX_DEPTH = 30
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_LINE = re.compile(r"\r?\n")
_FIELD_NAME = re.compile(r"^[!-9;-~]+$")


@dataclass
class Part:
    headers: Headers
    body: bytes
    path: str  # IMAP section number: "1", "2.1", ... ("1" for a single-part message)
    children: list[Part] = field(default_factory=list)

    @property
    def content_type(self) -> str:
        return self.headers.get_content_type()

    def leaves(self) -> list[Part]:
        """Parts with content, depth first. An attached message (message/rfc822) is a leaf."""
        if not self.children:
            return [self]
        return [leaf for child in self.children for leaf in child.leaves()]


def parse_tree(raw: bytes, problems: list[str]) -> Part:
    """The part tree of a whole message. The root's headers are the message's headers."""
    head, body = _split_head(raw, problems)
    headers = parse_headers(head, problems)
    if not head:
        problems.append("no headers")
    root = Part(headers=headers, body=body, path="")
    _split_children(root, problems, depth=0)
    return root


def find_part(raw: bytes, path: str) -> Part | None:
    """The leaf at an IMAP-style `path` ("2", "1.3"), e.g. to extract an attachment's bytes."""
    part = parse_tree(raw, [])
    if not part.children:
        return part if path == "1" else None
    for leaf in part.leaves():
        if leaf.path == path:
            return leaf
    return None


def parse_headers(head: bytes, problems: list[str]) -> Headers:
    """Header fields of a block (8-bit bytes kept as surrogate escapes, as compat32 does)."""
    headers = Headers(policy=compat32)
    name = ""
    value: list[str] = []
    for line in _LINE.split(head.decode("ascii", "surrogateescape")):
        if line[:1] in (" ", "\t") and name:
            value.append(line)
            continue
        if name:
            headers.set_raw(name, "\n".join(value))
            name = ""
        field_name, colon, rest = line.partition(":")
        if colon and _FIELD_NAME.match(field_name.rstrip(" \t")):
            name, value = field_name.rstrip(" \t"), [rest.lstrip(" \t")]
        elif line.strip():
            problems.append("MIME: malformed header line")
    if name:
        headers.set_raw(name, "\n".join(value))
    return headers


def _split_head(raw: bytes, problems: list[str]) -> tuple[bytes, bytes]:
    first_line = raw.split(b"\n", 1)[0].rstrip(b"\r")
    name, colon, _rest = first_line.partition(b":")
    if not colon or not _FIELD_NAME.match(name.rstrip(b" \t").decode("ascii", "replace")):
        return b"", raw  # no header block at all: everything is body
    match = _HEADER_END.search(raw)
    if match is None:
        return raw, b""
    return raw[: match.start()], raw[match.end() :]


def _split_children(part: Part, problems: list[str], depth: int) -> None:
    if part.headers.get_content_maintype() != "multipart":
        return
    if depth >= MAX_DEPTH:
        problems.append("MIME: nested too deeply; inner parts kept as one")
        return
    boundary = part.headers.get_boundary()
    if not boundary:
        problems.append("MIME: multipart without a boundary")
        return
    for index, chunk in enumerate(
        _split_body(part.body, boundary.encode("ascii", "surrogateescape"), problems)
    ):
        head, body = _split_part(chunk)
        child_path = f"{part.path}.{index + 1}" if part.path else str(index + 1)
        child = Part(headers=parse_headers(head, problems), body=body, path=child_path)
        _split_children(child, problems, depth + 1)
        part.children.append(child)


def _split_part(chunk: bytes) -> tuple[bytes, bytes]:
    if chunk.startswith((b"\r\n", b"\n")):  # no headers: defaults apply (text/plain; us-ascii)
        return b"", chunk[2:] if chunk.startswith(b"\r\n") else chunk[1:]
    head, body = _split_head(chunk, [])
    return head, body


def _split_body(body: bytes, boundary: bytes, problems: list[str]) -> list[bytes]:
    """The parts between `--boundary` delimiter lines (RFC 2046 section 5.1.1)."""
    marker = b"--" + boundary
    delimiters: list[tuple[int, int]] = []  # (start of delimiter line, start of the next line)
    closed = False
    pos = 0
    while not closed:
        found = body.find(marker, pos)
        if found < 0:
            break
        line_end = body.find(b"\n", found)
        line_end = len(body) if line_end < 0 else line_end + 1
        rest = body[found + len(marker) : line_end]
        at_line_start = found == 0 or body[found - 1 : found] == b"\n"
        if at_line_start and (rest.startswith(b"--") or not rest.strip()):
            delimiters.append((found, line_end))
            closed = rest.startswith(b"--")
        pos = line_end
    if not delimiters:
        problems.append("MIME: start boundary not found")
        return [body]
    if not closed:
        problems.append("MIME: close boundary not found")
        delimiters.append((len(body), len(body)))
    chunks = []
    for (_start, content_start), (next_start, _end) in zip(delimiters, delimiters[1:], strict=False):
        chunk = body[content_start:next_start]
        # The line break before a delimiter belongs to the delimiter.
        chunks.append(
            chunk[:-2] if chunk.endswith(b"\r\n") else chunk[:-1] if chunk.endswith(b"\n") else chunk
        )
    return chunks
