"""The System Mailbox form (the seed's sections) and deleting a mailbox."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.db import router, transaction
from django.db.models import ProtectedError
from django.db.models.deletion import Collector
from django.http import HttpRequest, HttpResponse, QueryDict
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.debug import sensitive_post_parameters
from django.views.decorators.http import require_http_methods, require_POST

from postroom.crm.models import LeadSource
from postroom.mailboxes.forms import SECTIONS, MailboxForm
from postroom.mailboxes.models import Mailbox
from postroom.organizations.access import OrgAccess
from postroom.sync.check import CheckResult, check_connection
from postroom.sync.folders import FolderNode, flatten
from postroom.web.folder_selection import (
    SHOWN_FIELD,
    TICK_FIELD,
    TREE_FIELD,
    FolderSelection,
    sign_tree,
    stored_tree,
)
from postroom.web.guards import is_htmx, org_view, posted

# The fields a connection check needs; errors elsewhere in the form do not stop a check.
CONNECTION_FIELDS = dict(SECTIONS)["Synchronization Settings"]

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
    request: HttpRequest,
    access: OrgAccess,
    form: MailboxForm,
    mailbox: Mailbox | None,
    folders: FolderSelection,
    check: CheckResult | None = None,
) -> HttpResponse:
    ctx = (
        folders.context()
        | _check_context(access, mailbox, check)
        | {
            "access": access,
            "form": form,
            "sections": _sections(form),
            "mailbox": mailbox,
            "retired_source": _selected_retired_source(form),
            "tls_off": not form["verify_tls"].value(),
            "menu": "email",
        }
    )
    return render(request, "postroom/mailboxes/form.html", ctx)


def _save(request: HttpRequest, access: OrgAccess, mailbox: Mailbox | None) -> HttpResponse:
    form = MailboxForm(posted(request), instance=mailbox or Mailbox(), organization=access.organization)
    folders = FolderSelection.from_post(posted(request), mailbox)
    if request.method == "POST" and form.is_valid() and folders.is_valid():
        with transaction.atomic():
            saved = form.save()
            folders.apply(saved)
        messages.success(request, f"Mailbox “{saved.label}” saved.")
        return redirect("email-configuration", slug=access.organization.slug)
    return _form_page(request, access, form, mailbox, folders)


def _check(request: HttpRequest, access: OrgAccess, mailbox: Mailbox | None) -> HttpResponse:
    """Check Connection/Retrieve Folders with the values in the form, saved or not. Stores nothing: the
    retrieved tree travels in a signed field until Save Settings."""
    form = MailboxForm(request.POST, instance=mailbox or Mailbox(), organization=access.organization)
    form.is_valid()  # fills form.instance with the typed values, even where other sections have errors
    folders = FolderSelection.from_post(request.POST, mailbox)
    check = None
    blocking = [name for name in CONNECTION_FIELDS if name in form.errors and name != "password"]
    if not blocking:
        candidate = form.instance
        if form.cleaned_data.get("password"):
            candidate.set_password(form.cleaned_data["password"])
        check = check_connection(candidate)
        if check.imap is not None and check.imap.ok:
            ticked = folders.ticked or {f.name for f in stored_tree(mailbox) if f.selected}
            folders = FolderSelection.from_post(_with_tree(request.POST, check.imap.folders, ticked), mailbox)
    if is_htmx(request):
        ctx = folders.context() | _check_context(access, mailbox, check) | {"blocking": blocking}
        return render(request, "postroom/mailboxes/_folders.html", ctx)
    return _form_page(request, access, form, mailbox, folders, check)


def _check_context(access: OrgAccess, mailbox: Mailbox | None, check: CheckResult | None) -> dict[str, Any]:
    slug = access.organization.slug
    if mailbox is None:
        url = reverse("mailbox-check-new", kwargs={"slug": slug})
    else:
        url = reverse("mailbox-check", kwargs={"slug": slug, "mailbox_id": mailbox.pk})
    outcomes = [("IMAP", check.imap), ("SMTP", check.smtp)] if check else []
    return {"check": check, "check_url": url, "check_outcomes": outcomes}


def _with_tree(data: QueryDict, tree: list[FolderNode], ticked: set[str]) -> QueryDict:
    copy = data.copy()
    copy[TREE_FIELD] = sign_tree(tree)
    names = {node.name for node in flatten(tree)}
    copy.setlist(TICK_FIELD, sorted(ticked & names))
    copy[SHOWN_FIELD] = "1"
    return copy


@sensitive_post_parameters("password")
@require_POST
@org_view("configure")
def mailbox_check_new(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    return _check(request, access, None)


@sensitive_post_parameters("password")
@require_POST
@org_view("configure")
def mailbox_check(request: HttpRequest, access: OrgAccess, mailbox_id: int) -> HttpResponse:
    mailbox = get_object_or_404(Mailbox, pk=mailbox_id, organization=access.organization)
    return _check(request, access, mailbox)


@sensitive_post_parameters("password")
@require_http_methods(["GET", "POST"])
@org_view("configure")
def mailbox_new(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    return _save(request, access, None)


@sensitive_post_parameters("password")
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
