"""Writing mail: reply, reply all and forward from a thread, and a new message from a mailbox. Members
send only from mailboxes they may read whose SMTP is enabled (`postroom.outbox.compose`)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from django.contrib import messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods

from postroom.mailboxes.access import readable_mailbox
from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.messages.reading import readable_message
from postroom.organizations.access import OrgAccess
from postroom.outbox.compose import (
    DraftRejected,
    Mode,
    prefill,
    reply_mailboxes,
    send_draft,
    sending_mailboxes,
)
from postroom.outbox.forms import ComposeForm
from postroom.outbox.models import OutgoingMessage
from postroom.web.guards import current_user, org_view, posted

ANSWER_MODES = {Mode.REPLY: "Reply", Mode.REPLY_ALL: "Reply all", Mode.FORWARD: "Forward"}
NO_SMTP = (
    "This mailbox cannot send mail: its SMTP is not enabled. An administrator can enable it under "
    "Synchronization Settings of the mailbox."
)


@require_http_methods(["GET", "POST"])
@org_view("member")
def mail_reply(request: HttpRequest, access: OrgAccess, message_id: int) -> HttpResponse:
    message = readable_message(access, message_id)
    mode = _answer_mode(request.GET.get("mode", Mode.REPLY))
    if mode is None:
        return _unavailable(request, access, "Choose to reply, reply to all, or forward.", message)
    mailboxes = reply_mailboxes(access, message)
    first = mailboxes.first()
    if first is None:
        return _unavailable(request, access, NO_SMTP, message)
    initial = {"mailbox": first, **asdict(prefill(mode, message, first))}
    ctx = {"title": f"{ANSWER_MODES[mode]}: {message.subject or '(no subject)'}", "parent": message}
    return _compose(request, access, mailboxes, initial, mode, message, ctx)


@require_http_methods(["GET", "POST"])
@org_view("member")
def mail_compose(request: HttpRequest, access: OrgAccess, mailbox_id: int) -> HttpResponse:
    mailbox = readable_mailbox(access, mailbox_id)
    if not mailbox.smtp_enabled or not mailbox.smtp_host:
        return _unavailable(request, access, NO_SMTP, None)
    ctx = {"title": f"New message from {mailbox.label}", "parent": None}
    return _compose(request, access, sending_mailboxes(access), {"mailbox": mailbox}, Mode.COMPOSE, None, ctx)


def _compose(
    request: HttpRequest,
    access: OrgAccess,
    mailboxes: QuerySet[Mailbox],
    initial: dict[str, Any],
    mode: Mode,
    parent: Message | None,
    ctx: dict[str, Any],
) -> HttpResponse:
    """Show the form, or send what was posted and go to the thread it now belongs to."""
    form = ComposeForm(posted(request), request.FILES or None, mailboxes=mailboxes, initial=initial)
    if form.is_valid():
        try:
            row = send_draft(
                form.draft(mode, parent), current_user(request), form.cleaned_data["idempotency_key"]
            )
        except DraftRejected as rejected:
            form.add_rejection(rejected)
        else:
            return _sent(request, access, row)
    status = 422 if form.errors else 200
    ctx = {**ctx, "access": access, "form": form, "mode": mode}
    return render(request, "postroom/compose/form.html", ctx, status=status)


def _sent(request: HttpRequest, access: OrgAccess, row: OutgoingMessage) -> HttpResponse:
    messages.success(request, f"Your message to {', '.join(row.recipients)} is queued for sending.")
    return redirect("mail-thread", slug=access.organization.slug, thread_id=row.thread_id)


def _answer_mode(value: str) -> Mode | None:
    return next((mode for mode in ANSWER_MODES if mode.value == value), None)


def _unavailable(
    request: HttpRequest, access: OrgAccess, reason: str, parent: Message | None
) -> HttpResponse:
    ctx = {"access": access, "reason": reason, "parent": parent}
    return render(request, "postroom/compose/unavailable.html", ctx, status=400)
