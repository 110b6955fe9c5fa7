"""A mailbox's status page (sync, backlog, last error, quarantined mail, processing and outbox failures)
and retrying a message the outbox gave up on. Open to every member who may read the mailbox."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from postroom.mailboxes.access import readable_mailbox
from postroom.organizations.access import OrgAccess
from postroom.outbox.delivery import delivery, failing_outgoing, retry_failed
from postroom.sync.models import MailboxSyncState
from postroom.sync.status import mailbox_status
from postroom.web.guards import org_view


@require_GET
@org_view("member")
def mail_status(request: HttpRequest, access: OrgAccess, mailbox_id: int) -> HttpResponse:
    mailbox = readable_mailbox(access, mailbox_id)
    ctx = {
        "access": access,
        "mailbox": mailbox,
        "status": mailbox_status(mailbox),
        "state": MailboxSyncState.objects.filter(mailbox=mailbox).first(),
        "outbox_failures": [(row, delivery(row)) for row in failing_outgoing(mailbox)],
    }
    return render(request, "postroom/status/mailbox.html", ctx)


@require_POST
@org_view("member")
def outbox_retry(request: HttpRequest, access: OrgAccess, mailbox_id: int, outgoing_id: int) -> HttpResponse:
    mailbox = readable_mailbox(access, mailbox_id)
    row = retry_failed(mailbox, outgoing_id)
    messages.success(request, f"The message to {', '.join(row.recipients)} will be sent again.")
    return redirect("mail-status", slug=access.organization.slug, mailbox_id=mailbox.pk)
