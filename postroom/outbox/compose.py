"""Mail written by a member: reply, reply all, forward and new messages, sent from a mailbox address.

`prefill` proposes recipients, subject and quoted text for a mode; `send_draft` builds the exact bytes
(From the mailbox with its label, validated recipients, threading headers, attachments) and queues them in
the outbox. The message is stored in its thread in the same transaction, so the thread shows it at once
with its delivery status (`postroom.outbox.delivery`); the send path later finds it already stored.

A double submit sends once: every draft carries an idempotency key, unique per organization, and a key
seen before answers with the message it already queued.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, formataddr, getaddresses, make_msgid
from enum import StrEnum

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from postroom.accounts.models import User
from postroom.autoresponse.reply import references_chain
from postroom.mailboxes.access import visible_mailboxes
from postroom.mailboxes.models import Mailbox
from postroom.messages.mime import find_part
from postroom.messages.models import Message, MessageBody, MessageRaw
from postroom.messages.parse import decode_part, html_to_text
from postroom.messages.store import store_message
from postroom.organizations.access import OrgAccess
from postroom.outbox import send
from postroom.outbox.models import Kind, OutgoingMessage
from postroom.sync.models import Placement

MAX_RECIPIENTS = 100
MAX_UPLOAD_BYTES = 20 * 1024 * 1024  # all uploads together; common servers refuse messages near 25 MB
MAX_MESSAGE_BYTES = 30 * 1024 * 1024  # uploads plus forwarded attachments, after base64 (~4/3)
MAX_SUBJECT_LENGTH = 500
REPLY_PREFIXES = ("re", "aw", "sv", "antw", "ref", "rif", "odp")
FORWARD_PREFIXES = ("fwd", "fw", "wg", "tr", "rv", "doorst", "enc", "pd")


class Mode(StrEnum):
    REPLY = "reply"
    REPLY_ALL = "all"
    FORWARD = "forward"
    COMPOSE = "compose"


KINDS = {Mode.REPLY: Kind.REPLY, Mode.REPLY_ALL: Kind.REPLY, Mode.FORWARD: Kind.FORWARD}


@dataclass(frozen=True)
class Upload:
    filename: str
    content_type: str
    data: bytes


@dataclass
class Draft:
    """What the member wrote. Addresses are (display name, address) pairs, already validated."""

    mailbox: Mailbox
    to: list[tuple[str, str]]
    cc: list[tuple[str, str]] = field(default_factory=list)
    bcc: list[tuple[str, str]] = field(default_factory=list)
    subject: str = ""
    body: str = ""
    attachments: list[Upload] = field(default_factory=list)
    mode: Mode = Mode.COMPOSE
    parent: Message | None = None


class DraftRejected(Exception):
    """The draft cannot be sent as it is; `errors` maps form fields to messages for the member."""

    def __init__(self, errors: dict[str, list[str]]) -> None:
        super().__init__("; ".join(f"{name}: {' '.join(texts)}" for name, texts in errors.items()))
        self.errors = errors


# Who may send what -------------------------------------------------------------------------------------


def sending_mailboxes(access: OrgAccess) -> QuerySet[Mailbox]:
    """Mailboxes the user may read whose SMTP is set up: the only ones they may send from."""
    return visible_mailboxes(access).filter(smtp_enabled=True).exclude(smtp_host="").order_by("label")


def reply_mailboxes(access: OrgAccess, message: Message) -> QuerySet[Mailbox]:
    """Sending mailboxes that hold `message` (synced into them, or sent from them by Postroom)."""
    # Two EXISTS probes on indexed columns: an OR across two joins made SQLite scan every placement
    # (315 ms per message at 1,000,000 messages, against 2 ms this way).
    placed = Placement.objects.filter(mailbox=OuterRef("pk"), message=message)
    sent = OutgoingMessage.objects.filter(mailbox=OuterRef("pk"), stored_message=message)
    return sending_mailboxes(access).filter(Exists(placed) | Exists(sent))


def answerable_messages(access: OrgAccess, message_ids: Sequence[int]) -> set[int]:
    """Which of `message_ids` the user may answer (held by a mailbox they may send from): two queries for a
    whole thread instead of `reply_mailboxes` per message."""
    senders = sending_mailboxes(access).order_by().values("pk")
    placed = Placement.objects.filter(mailbox__in=senders, message_id__in=message_ids)
    sent = OutgoingMessage.objects.filter(mailbox__in=senders, stored_message_id__in=message_ids)
    return set(placed.values_list("message_id", flat=True)) | set(
        sent.values_list("stored_message_id", flat=True)
    )


# Proposing a draft --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Prefill:
    to: str = ""
    cc: str = ""
    subject: str = ""
    body: str = ""


def prefill(mode: Mode, message: Message, mailbox: Mailbox) -> Prefill:
    """Recipients, subject and quoted text proposed for answering or forwarding `message`."""
    if mode == Mode.FORWARD:
        return Prefill(subject=prefixed("Fwd", message.subject), body=forwarded_text(message))
    own = own_addresses(mailbox)
    to = _answer_to(message, own)
    cc: list[tuple[str, str]] = []
    if mode == Mode.REPLY_ALL:
        to = _without(to + _pairs(message.to), own)
        cc = _without(_pairs(message.cc), own | {address.lower() for _, address in to})
    return Prefill(
        to=format_addresses(to),
        cc=format_addresses(cc),
        subject=prefixed("Re", message.subject),
        body=quoted_text(message),
    )


def own_addresses(mailbox: Mailbox) -> set[str]:
    """The mailbox's addresses (its email, and its login when that is an address), lower case."""
    return {a.lower() for a in (mailbox.email, mailbox.username) if "@" in a}


def prefixed(prefix: str, subject: str) -> str:
    """`subject` with one "Re: " or "Fwd: " in front, however many reply or forward prefixes (in the
    usual languages) it already had: "Re: RE: AW: Order" answered is "Re: Order"."""
    known = REPLY_PREFIXES if prefix == "Re" else FORWARD_PREFIXES
    rest = " ".join(subject.split())
    while True:
        head, colon, tail = rest.partition(":")
        word = head.strip().lower().split("[")[0]  # "Re[2]" counts as "Re"
        if not colon or word not in known:
            break
        rest = tail.strip()
    return f"{prefix}: {rest}" if rest else f"{prefix}:"


def quoted_text(message: Message) -> str:
    """The original's text with "> " in front of every line, under an attribution line."""
    when = timezone.localtime(message.date).strftime("%Y-%m-%d %H:%M") if message.date else "an earlier date"
    sender = formataddr((message.from_name, message.from_address)) if message.from_address else "someone"
    quoted = "\n".join(f"> {line}" if line else ">" for line in original_text(message).splitlines())
    return f"\n\nOn {when}, {sender} wrote:\n{quoted}\n"


def forwarded_text(message: Message) -> str:
    lines = [
        "",
        "",
        "---------- Forwarded message ----------",
        f"From: {formataddr((message.from_name, message.from_address))}",
        f"Date: {format_datetime(message.date) if message.date else ''}",
        f"Subject: {message.subject}",
        f"To: {format_addresses(_pairs(message.to))}",
    ]
    if message.cc:
        lines.append(f"Cc: {format_addresses(_pairs(message.cc))}")
    return "\n".join([*lines, "", original_text(message), ""])


def original_text(message: Message) -> str:
    body = MessageBody.objects.filter(message=message).first()
    if body is None:
        return ""
    return body.text or html_to_text(body.html)


def format_addresses(pairs: Iterable[tuple[str, str]]) -> str:
    return ", ".join(formataddr(pair) for pair in pairs)


def _pairs(stored: Sequence[Sequence[str]]) -> list[tuple[str, str]]:
    return [(name, address) for name, address in stored if address]


def _answer_to(message: Message, own: set[str]) -> list[tuple[str, str]]:
    """Reply-To, else From; for a message we sent ourselves, its recipients (answering our own mail
    means writing to them again, not to ourselves)."""
    if message.from_address.lower() in own:
        return _without(_pairs(message.to), own)
    return _pairs(message.reply_to) or [(message.from_name, message.from_address)]


def _without(pairs: list[tuple[str, str]], excluded: set[str]) -> list[tuple[str, str]]:
    seen = set(excluded)
    kept = []
    for name, address in pairs:
        if address.lower() not in seen:
            seen.add(address.lower())
            kept.append((name, address))
    return kept


# Validating and sending ---------------------------------------------------------------------------------


def parse_addresses(value: str) -> list[tuple[str, str]]:
    """Comma-separated addresses ("Ann <ann@example.org>, bob@example.org") as (name, address) pairs;
    ValidationError naming every one that is not a valid address."""
    if "\n" in value or "\r" in value:
        raise ValidationError("Put all addresses on one line, separated by commas.")
    pairs = [(" ".join(name.split()), address.strip()) for name, address in getaddresses([value])]
    pairs = [(name, address) for name, address in pairs if name or address]
    bad = [name or address for name, address in pairs if not _valid_address(address)]
    if bad:
        raise ValidationError(f"Not a valid email address: {', '.join(bad)}.")
    return pairs


def _valid_address(address: str) -> bool:
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


def check_draft(draft: Draft) -> None:
    """DraftRejected with per-field messages when the draft cannot go out."""
    errors: dict[str, list[str]] = {}
    recipients = envelope_recipients(draft)
    if not recipients:
        errors["to"] = ["Add at least one recipient."]
    elif len(recipients) > MAX_RECIPIENTS:
        errors["to"] = [f"At most {MAX_RECIPIENTS} recipients in all (To, Cc and Bcc)."]
    if len(draft.subject) > MAX_SUBJECT_LENGTH:
        errors["subject"] = [f"At most {MAX_SUBJECT_LENGTH} characters."]
    uploaded = sum(len(upload.data) for upload in draft.attachments)
    if uploaded > MAX_UPLOAD_BYTES:
        errors["attachments"] = [f"Attachments may be {MAX_UPLOAD_BYTES // (1024 * 1024)} MB in all."]
    if not draft.mailbox.smtp_enabled or not draft.mailbox.smtp_host:
        errors["mailbox"] = ["This mailbox cannot send: its SMTP is not enabled."]
    if errors:
        raise DraftRejected(errors)


def envelope_recipients(draft: Draft) -> list[str]:
    """Every address of To, Cc and Bcc once, in that order."""
    return list(dict.fromkeys(address for _, address in (*draft.to, *draft.cc, *draft.bcc)))


def send_draft(
    draft: Draft, user: User, idempotency_key: str, now: datetime | None = None
) -> OutgoingMessage:
    """Queue the draft and store it in its thread. The same key again returns the first message
    instead of sending a second one (the key is unique per organization, so a concurrent double submit
    loses on the constraint and gets the winner's message)."""
    existing = _already_sent(draft.mailbox, user, idempotency_key)
    if existing is not None:
        return existing
    check_draft(draft)
    raw = build_message(draft, now or timezone.now())
    if len(raw) > MAX_MESSAGE_BYTES:
        raise DraftRejected({"attachments": ["The message is too large to send; leave out attachments."]})
    try:
        with transaction.atomic():
            row = send.enqueue(
                draft.mailbox,
                KINDS.get(draft.mode, Kind.COMPOSE),
                raw,
                envelope_recipients(draft),
                in_reply_to=draft.parent,
                thread=draft.parent.thread if draft.parent else None,
                idempotency_key=idempotency_key,
                created_by=user,
            )
            stored = store_message(draft.mailbox.organization, raw)
            row.stored_message_id, row.thread_id = stored.message_id, stored.thread_id
            row.save(update_fields=["stored_message", "thread"])
    except IntegrityError:
        existing = _already_sent(draft.mailbox, user, idempotency_key)
        if existing is None:
            raise
        return existing
    return row


def _already_sent(mailbox: Mailbox, user: User, idempotency_key: str) -> OutgoingMessage | None:
    row = OutgoingMessage.objects.filter(
        organization_id=mailbox.organization_id, idempotency_key=idempotency_key
    ).first()
    if row is not None and (row.created_by_id != user.pk or row.mailbox_id != mailbox.pk):
        # A key is the form's own random token; another user's or mailbox's means a tampered form.
        raise DraftRejected({"idempotency_key": ["This form was already used. Reload the page."]})
    return row


def build_message(draft: Draft, now: datetime) -> bytes:
    """The complete message: plain text, attachments, and threading headers for replies and forwards."""
    mailbox = draft.mailbox
    message = EmailMessage(policy=SMTP)
    message["From"] = formataddr((mailbox.label, mailbox.email))
    if draft.to:
        message["To"] = format_addresses(draft.to)
    if draft.cc:
        message["Cc"] = format_addresses(draft.cc)
    message["Subject"] = " ".join(draft.subject.split())  # no header injection through newlines
    message["Date"] = format_datetime(now)
    message["Message-ID"] = make_msgid(domain=mailbox.email.rsplit("@", 1)[-1] or "postroom.invalid")
    _thread_headers(message, draft)
    message.set_content(draft.body.replace("\r\n", "\n"), charset="utf-8")
    for upload in [*_forwarded_attachments(draft), *draft.attachments]:
        maintype, _, subtype = upload.content_type.partition("/")
        if not subtype or maintype == "multipart":
            maintype, subtype = "application", "octet-stream"
        message.add_attachment(upload.data, maintype=maintype, subtype=subtype, filename=upload.filename)
    return message.as_bytes()


def _thread_headers(message: EmailMessage, draft: Draft) -> None:
    """Replies get In-Reply-To and the full References chain; a forward gets References only, which
    keeps it in the conversation here without claiming to answer the original."""
    parent = draft.parent
    if parent is None or draft.mode == Mode.COMPOSE:
        return
    if draft.mode != Mode.FORWARD and parent.message_id:
        message["In-Reply-To"] = f"<{parent.message_id}>"
    chain = references_chain(parent)
    if chain:
        message["References"] = " ".join(f"<{ref}>" for ref in chain)


def _forwarded_attachments(draft: Draft) -> list[Upload]:
    """A forward carries the original's attachments; an original we could not parse goes whole, so
    nothing of it is lost (as application/octet-stream: message/rfc822 may not be base64-encoded, and
    bytes we could not parse may not survive 8bit)."""
    parent = draft.parent
    if parent is None or draft.mode != Mode.FORWARD:
        return []
    raw = MessageRaw.objects.filter(message=parent).values_list("data", flat=True).first()
    if raw is None:
        return []
    raw = bytes(raw)
    if parent.parse_error:
        return [Upload("original.eml", "application/octet-stream", raw)]
    uploads = []
    for attachment in parent.attachments.all():
        part = find_part(raw, attachment.part_path)
        if part is not None:
            uploads.append(Upload(attachment.filename, attachment.content_type, decode_part(part, [])))
    return uploads
