"""The System Mailbox form (the seed's sections) and deleting a mailbox."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import router
from django.db.models import ProtectedError
from django.db.models.deletion import Collector
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from postroom.crm.models import LeadSource
from postroom.mailboxes.forms import SECTIONS, MailboxForm
from postroom.mailboxes.models import Mailbox
from postroom.organizations.access import OrgAccess
from postroom.web.guards import org_view, posted

# Which Email Processing choice each processing field belongs to; static JS hides the others.
PROCESS_GROUPS = {
    "owner": "lead case",
    "lead_source": "lead",
    "case_assignee": "case",
    "case_status": "case",
    "case_priority": "case",
}


def _selected_retired_source(form: MailboxForm) -> LeadSource | None:
    value = form["lead_source"].value()
    if not value:
        return None
    try:
        pk = int(value)
    except (TypeError, ValueError):
        return None
    return LeadSource.objects.filter(pk=pk, organization=form.organization, retired=True).first()


def _sections(form: MailboxForm) -> list[dict[str, Any]]:
    return [
        {
            "title": title,
            "fields": [{"field": form[name], "group": PROCESS_GROUPS.get(name, "")} for name in names],
        }
        for title, names in SECTIONS
    ]


def _form_page(
    request: HttpRequest, access: OrgAccess, form: MailboxForm, mailbox: Mailbox | None
) -> HttpResponse:
    ctx = {
        "access": access,
        "form": form,
        "sections": _sections(form),
        "mailbox": mailbox,
        "retired_source": _selected_retired_source(form),
        "tls_off": not form["verify_tls"].value(),
        "menu": "email",
    }
    return render(request, "postroom/mailboxes/form.html", ctx)


def _save(request: HttpRequest, access: OrgAccess, mailbox: Mailbox | None) -> HttpResponse:
    form = MailboxForm(posted(request), instance=mailbox or Mailbox(), organization=access.organization)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, f"Mailbox “{saved.label}” saved.")
        return redirect("email-configuration", slug=access.organization.slug)
    return _form_page(request, access, form, mailbox)


@require_http_methods(["GET", "POST"])
@org_view("configure")
def mailbox_new(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    return _save(request, access, None)


@require_http_methods(["GET", "POST"])
@org_view("configure")
def mailbox_edit(request: HttpRequest, access: OrgAccess, mailbox_id: int) -> HttpResponse:
    mailbox = get_object_or_404(Mailbox, pk=mailbox_id, organization=access.organization)
    return _save(request, access, mailbox)


def deletion_summary(mailbox: Mailbox) -> list[tuple[str, int]]:
    """What deleting `mailbox` takes with it, as (kind, count), from Django's own cascade collector,
    so mail and rules added by later features are listed without this page knowing about them.
    """
    collector = Collector(using=router.db_for_write(Mailbox), origin=mailbox)
    try:
        collector.collect([mailbox])
    except ProtectedError:
        return []  # the POST says why it cannot be deleted
    counts: dict[str, int] = {}
    for model, instances in collector.data.items():
        if model is not Mailbox and not model._meta.auto_created:
            name = str(model._meta.verbose_name_plural)
            counts[name] = counts.get(name, 0) + len(instances)
    for queryset in collector.fast_deletes:
        if queryset.model._meta.auto_created:
            continue  # many-to-many links (access grants) are not things the admin loses
        name = str(queryset.model._meta.verbose_name_plural)
        counts[name] = counts.get(name, 0) + queryset.count()
    return sorted((name, count) for name, count in counts.items() if count)


@require_http_methods(["GET", "POST"])
@org_view("configure")
def mailbox_delete(request: HttpRequest, access: OrgAccess, mailbox_id: int) -> HttpResponse:
    mailbox = get_object_or_404(Mailbox, pk=mailbox_id, organization=access.organization)
    if request.method == "POST":
        label = mailbox.label
        try:
            mailbox.delete()
        except ProtectedError:
            messages.error(request, f"Mailbox “{label}” is still referenced by records that must be kept.")
        else:
            messages.success(request, f"Mailbox “{label}” deleted.")
            return redirect("email-configuration", slug=access.organization.slug)
    ctx = {"access": access, "mailbox": mailbox, "menu": "email", "summary": deletion_summary(mailbox)}
    return render(request, "postroom/mailboxes/delete.html", ctx)
