"""Building the bytes of an automatic reply (RFC 3834 section 3): From the mailbox, To the sender
(Reply-To honoured), the full References chain, Auto-Submitted: auto-replied, and a Message-ID of ours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.charset import QP, Charset
from email.header import Header
from email.message import Message as MimeMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.policy import compat32
from email.utils import format_datetime, formataddr, make_msgid

from postroom.autoresponse.models import TemplateType
from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.messages.parse import html_to_text

MAX_REFERENCES = 50  # keep the chain's start and its most recent ids when a thread gets very long
MAX_7BIT_LINE = 78  # longer lines go quoted-printable, which wraps them

# The classic email API (what Django's mail builds on): `email.policy.SMTP`'s header objects parsed and
# refolded every header and were a third of an automatic reply's CPU (bench.processing). Lines end in
# CRLF, as SMTP wants them.
_UTF8 = Charset("utf-8")
_UTF8.body_encoding = QP
_WIRE = compat32.clone(linesep="\r\n")


@dataclass(frozen=True)
class BuiltReply:
    """The reply's bytes, with the headers the outbox records, so it need not parse them back."""

    raw: bytes
    message_id: str
    subject: str


def build_reply(
    message: Message,
    mailbox: Mailbox,
    to: str,
    *,
    subject: str,
    content: str,
    kind: str,
    language: str,
    now: datetime,
) -> BuiltReply:
    """The complete reply to `message`. An HTML reply also carries a plain-text alternative."""
    message_id = make_msgid(domain=mailbox.email.rsplit("@", 1)[-1] or "postroom.invalid")
    subject = " ".join(subject.split())  # no header injection through newlines
    reply: MimeMessage
    if kind == TemplateType.HTML:
        reply = MIMEMultipart("alternative", _subparts=[_text(html_to_text(content) or " ")])
        reply.attach(_text(content, "html"))
    else:
        reply = _text(content)
    _set(reply, "From", _address(" ".join(mailbox.label.split()), mailbox.email))
    _set(reply, "To", _header("To", to))
    _set(reply, "Subject", _header("Subject", subject))
    reply["Date"] = format_datetime(now)
    reply["Message-ID"] = message_id
    if message.message_id:
        _set(reply, "In-Reply-To", _header("In-Reply-To", f"<{message.message_id}>"))
    chain = references_chain(message)
    if chain:
        _set(reply, "References", _header("References", " ".join(f"<{ref}>" for ref in chain)))
    reply["Auto-Submitted"] = "auto-replied"
    reply["X-Auto-Response-Suppress"] = "All"
    if language:
        _set(reply, "Content-Language", _header("Content-Language", language))
    return BuiltReply(reply.as_bytes(policy=_WIRE), message_id, subject)


def _set(reply: MimeMessage, name: str, value: str | Header) -> None:
    reply[name] = value  # type: ignore[assignment]  # typeshed says str; the classic API takes a Header


def _text(content: str, subtype: str = "plain") -> MIMEText:
    """A text part: 7bit when it is ASCII in short lines, else quoted-printable UTF-8, which also wraps
    the long lines (one-line HTML) that SMTP would refuse (998 characters at most)."""
    content = content if content.endswith("\n") else content + "\n"  # a text part ends its last line
    plain = content.isascii() and max(map(len, content.split("\n"))) <= MAX_7BIT_LINE
    return MIMEText(content, subtype, "us-ascii" if plain else _UTF8)  # type: ignore[arg-type]


def _address(name: str, address: str) -> str | Header:
    """The From header's name and address: the name quoted where its characters need it, or encoded."""
    if name.isascii():
        return formataddr((name, address))
    header = Header(name, "utf-8", header_name="From")
    header.append(f"<{address}>", "us-ascii")
    return header


def _header(name: str, value: str) -> str | Header:
    """`value` as it is when a reader takes it as it is; else in RFC 2047 encoded words, which a reader
    decodes back to exactly `value` (text that merely looks like an encoded word included). Either is
    folded to 78 characters a line."""
    if value.isascii() and "=?" not in value:
        return value
    return Header(value, "utf-8", header_name=name)


def references_chain(message: Message) -> list[str]:
    """The parent's References followed by the parent's own Message-ID, without repeats."""
    chain = list(dict.fromkeys([*message.references, message.message_id]))
    chain = [ref for ref in chain if ref]
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return chain
