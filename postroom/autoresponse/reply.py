"""Building the bytes of an automatic reply (RFC 3834 section 3): From the mailbox, To the sender
(Reply-To honoured), the full References chain, Auto-Submitted: auto-replied, and a Message-ID of ours."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, make_msgid

from postroom.autoresponse.models import TemplateType
from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.messages.parse import html_to_text

MAX_REFERENCES = 50  # keep the chain's start and its most recent ids when a thread gets very long


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
    reply = EmailMessage(policy=SMTP)
    reply["From"] = formataddr((mailbox.label, mailbox.email))
    reply["To"] = to
    reply["Subject"] = " ".join(subject.split())  # no header injection through newlines
    reply["Date"] = format_datetime(now)
    reply["Message-ID"] = message_id
    if message.message_id:
        reply["In-Reply-To"] = f"<{message.message_id}>"
    chain = references_chain(message)
    if chain:
        reply["References"] = " ".join(f"<{ref}>" for ref in chain)
    reply["Auto-Submitted"] = "auto-replied"
    reply["X-Auto-Response-Suppress"] = "All"
    if language:
        reply["Content-Language"] = language
    if kind == TemplateType.HTML:
        reply.set_content(html_to_text(content) or " ", charset="utf-8")
        reply.add_alternative(content, subtype="html", charset="utf-8")
    else:
        reply.set_content(content, charset="utf-8")
    return BuiltReply(reply.as_bytes(), message_id, str(reply["Subject"]))  # as a reader decodes it


def references_chain(message: Message) -> list[str]:
    """The parent's References followed by the parent's own Message-ID, without repeats."""
    chain = list(dict.fromkeys([*message.references, message.message_id]))
    chain = [ref for ref in chain if ref]
    if len(chain) > MAX_REFERENCES:
        chain = [chain[0], *chain[-(MAX_REFERENCES - 1) :]]
    return chain
