"""Actions on a mailbox's inbound processing: retry the messages whose processing failed for good."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from postroom.mailboxes.models import Mailbox
from postroom.organizations.access import OrgAccess
from postroom.processing.runner import retry_failed
from postroom.web.guards import org_view


@require_POST
@org_view("configure")
def processing_retry(request: HttpRequest, access: OrgAccess, mailbox_id: int) -> HttpResponse:
    mailbox = get_object_or_404(Mailbox, pk=mailbox_id, organization=access.organization)
    count = retry_failed(mailbox.pk)
    messages.success(request, f"{count} message{'s' if count != 1 else ''} will be processed again.")
    return redirect("mailbox-edit", slug=access.organization.slug, mailbox_id=mailbox.pk)
