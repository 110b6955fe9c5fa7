"""Sending mail over JSON: reply, reply all or forward a stored message, write a new message from a
mailbox, and follow an outgoing message's delivery. Validated by the web page's compose form; members
send only from mailboxes they may read whose SMTP is enabled."""

from __future__ import annotations

import base64
import binascii
from dataclasses import asdict
from datetime import datetime
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import Http404, HttpRequest
from ninja import Field, Router, Schema, Status

from postroom.api.errors import FieldErrors
from postroom.api.schemas import Input, responses
from postroom.api.tenancy import open_org
from postroom.mailboxes.access import readable_mailbox
from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.messages.parse import sanitize_filename
from postroom.messages.reading import readable_message
from postroom.organizations.access import OrgAccess
from postroom.outbox.compose import (
    Draft,
    DraftRejected,
    Mode,
    Upload,
    prefill,
    reply_mailboxes,
    send_draft,
    sending_mailboxes,
)
from postroom.outbox.delivery import delivery
from postroom.outbox.forms import ComposeForm, new_idempotency_key
from postroom.outbox.models import OutgoingMessage

router = Router(tags=["compose"])

NO_SMTP = "This mailbox cannot send mail: its SMTP is not enabled."


class AttachmentIn(Input):
    filename: str = Field(max_length=255)
    content_type: str = Field(default="application/octet-stream", max_length=200)
    content_base64: str = Field(description="The file's bytes, base64-encoded.")


class MessageIn(Input):
    bcc: list[str] = Field(default_factory=list)
    body: str = Field(default="", description="Plain text.")
    attachments: list[AttachmentIn] = Field(default_factory=list)
    idempotency_key: str | None = Field(
        default=None,
        min_length=16,
        max_length=64,
        description="Sending again with the same key returns the first message instead of a second one.",
    )


class ComposeIn(MessageIn):
    to: list[str] = Field(default_factory=list, description='Addresses, e.g. "Ann <ann@example.org>".')
    cc: list[str] = Field(default_factory=list)
    subject: str = ""


class ReplyIn(MessageIn):
    mode: Literal["reply", "all", "forward"] = "reply"
    to: list[str] | None = Field(
        default=None, description="Leave out for the usual recipients of the mode (none for a forward)."
    )
    cc: list[str] | None = None
    subject: str | None = Field(default=None, description='Leave out for "Re: ..." or "Fwd: ...".')
    mailbox_id: int | None = Field(
        default=None, description="Send from this mailbox (one holding the message); default: the first."
    )


class OutgoingOut(Schema):
    id: int
    mailbox_id: int
    kind: str = Field(description="reply, forward, compose or auto_reply.")
    state: str = Field(description="queued, sending, sent, retrying or failed.")
    detail: str = Field(description="The server's answer for a failure or retry.")
    recipients: list[str]
    subject: str
    message_id: str
    thread_id: int | None
    stored_message_id: int | None
    attempts: int
    created_at: datetime
    sent_at: datetime | None
    next_attempt_at: datetime


@router.post(
    "/orgs/{slug}/messages/{message_id}/reply",
    response=responses({201: OutgoingOut}, validation=True),
    summary="Reply, reply all or forward a stored message",
)
def reply(request: HttpRequest, slug: str, message_id: int, payload: ReplyIn) -> Status[OutgoingOut]:
    access = open_org(request, slug, "member")
    message = readable_message(access, message_id)
    mailboxes = reply_mailboxes(access, message)
    mailbox = _chosen(mailboxes, payload.mailbox_id)
    mode = Mode(payload.mode)
    proposed = asdict(prefill(mode, message, mailbox))
    data = {
        "to": ", ".join(payload.to) if payload.to is not None else proposed["to"],
        "cc": ", ".join(payload.cc) if payload.cc is not None else proposed["cc"],
        "subject": payload.subject if payload.subject is not None else proposed["subject"],
    }
    return Status(201, _send(access, mailboxes, mailbox, payload, data, mode, message))


@router.post(
    "/orgs/{slug}/mailboxes/{mailbox_id}/messages",
    response=responses({201: OutgoingOut}, validation=True),
    summary="Send a new message from a mailbox",
)
def compose(request: HttpRequest, slug: str, mailbox_id: int, payload: ComposeIn) -> Status[OutgoingOut]:
    access = open_org(request, slug, "member")
    mailbox = readable_mailbox(access, mailbox_id)
    if not mailbox.smtp_enabled or not mailbox.smtp_host:
        raise FieldErrors.single("mailbox", NO_SMTP)
    data = {"to": ", ".join(payload.to), "cc": ", ".join(payload.cc), "subject": payload.subject}
    return Status(201, _send(access, sending_mailboxes(access), mailbox, payload, data, Mode.COMPOSE, None))


@router.get(
    "/orgs/{slug}/outgoing/{outgoing_id}",
    response=responses({200: OutgoingOut}),
    summary="An outgoing message and its delivery state",
)
def outgoing(request: HttpRequest, slug: str, outgoing_id: int) -> OutgoingOut:
    access = open_org(request, slug, "member")
    row = OutgoingMessage.objects.filter(organization=access.organization, pk=outgoing_id).first()
    if row is None:
        raise Http404("No such outgoing message.")
    readable_mailbox(access, row.mailbox_id)
    return _out(row)


def _chosen(mailboxes: QuerySet[Mailbox], mailbox_id: int | None) -> Mailbox:
    chosen = mailboxes.filter(pk=mailbox_id) if mailbox_id is not None else mailboxes
    mailbox = chosen.first()
    if mailbox is None:
        field = "mailbox_id" if mailbox_id is not None else "mode"
        raise FieldErrors.single(field, f"{NO_SMTP} (Or the message is not in that mailbox.)")
    return mailbox


def _send(
    access: OrgAccess,
    mailboxes: QuerySet[Mailbox],
    mailbox: Mailbox,
    payload: MessageIn,
    data: dict[str, Any],
    mode: Mode,
    parent: Message | None,
) -> OutgoingOut:
    key = payload.idempotency_key or new_idempotency_key()
    fields = {**data, "mailbox": mailbox.pk, "bcc": ", ".join(payload.bcc), "body": payload.body}
    form = ComposeForm({**fields, "idempotency_key": key}, mailboxes=mailboxes)
    if not form.is_valid():
        raise FieldErrors.from_form(form)
    draft: Draft = form.draft(mode, parent)
    draft.attachments = [_upload(attachment, n) for n, attachment in enumerate(payload.attachments)]
    try:
        row = send_draft(draft, access.user, key)
    except DraftRejected as rejected:
        raise FieldErrors(rejected.errors) from None
    return _out(row)


def _upload(attachment: AttachmentIn, index: int) -> Upload:
    try:
        data = base64.b64decode(attachment.content_base64, validate=True)
    except (binascii.Error, ValueError):
        raise FieldErrors.single(f"attachments.{index}", "Not valid base64.") from None
    return Upload(sanitize_filename(attachment.filename), attachment.content_type, data)


def _out(row: OutgoingMessage) -> OutgoingOut:
    state = delivery(row)
    return OutgoingOut(
        id=row.pk,
        mailbox_id=row.mailbox_id,
        kind=row.kind,
        state=state.state,
        detail=row.last_error,
        recipients=row.recipients,
        subject=row.subject,
        message_id=row.message_id,
        thread_id=row.thread_id,
        stored_message_id=row.stored_message_id,
        attempts=row.attempts,
        created_at=row.created_at,
        sent_at=row.sent_at,
        next_attempt_at=row.next_attempt_at,
    )
