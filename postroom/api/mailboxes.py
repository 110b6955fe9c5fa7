"""System mailboxes over JSON. Every write goes through `MailboxForm`, the form the web UI uses, so the
API accepts exactly what the UI accepts: ids of users, roles and lead sources from another organization
are not valid choices there, and therefore not here.

The password is write-only: responses carry `has_password` instead, and an absent or empty password on
PATCH keeps the stored one.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.forms.models import model_to_dict
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Status

from postroom.api.errors import FieldErrors
from postroom.api.schemas import MailboxIn, MailboxOut, MailboxPatch, responses
from postroom.api.tenancy import open_org
from postroom.mailboxes.forms import MailboxForm
from postroom.mailboxes.models import Mailbox
from postroom.organizations.models import Organization

router = Router(tags=["mailboxes"])

FORM_FIELDS: list[str] = list(MailboxForm.Meta.fields)
MANY = ("access_roles", "access_users")


def mailbox_out(mailbox: Mailbox) -> MailboxOut:
    return MailboxOut(
        id=mailbox.pk,
        **current_values(mailbox),
        has_password=mailbox.has_password,
        processing_enabled_at=mailbox.processing_enabled_at,
        created_at=mailbox.created_at,
        updated_at=mailbox.updated_at,
    )


def current_values(mailbox: Mailbox) -> dict[str, Any]:
    """The form fields' values of `mailbox` (defaults for a new one), with related objects as ids."""
    values = model_to_dict(mailbox, fields=FORM_FIELDS)
    for name in MANY:
        values[name] = sorted(obj.pk for obj in values[name])
    return values


def _form(organization: Organization, mailbox: Mailbox, changes: MailboxPatch) -> MailboxForm:
    """The shared form bound to the mailbox's current values overlaid with the given changes."""
    given = changes.model_dump(exclude_unset=True)
    data = {**current_values(mailbox), **given, "password": given.get("password") or ""}
    return MailboxForm(data, instance=mailbox, organization=organization)


def _save(organization: Organization, mailbox: Mailbox, changes: MailboxPatch) -> Mailbox:
    form = _form(organization, mailbox, changes)
    if not form.is_valid():
        raise FieldErrors.from_form(form)
    with transaction.atomic():
        return form.save()


def _mailbox(organization: Organization, mailbox_id: int) -> Mailbox:
    return get_object_or_404(Mailbox, pk=mailbox_id, organization=organization)


@router.get("/orgs/{slug}/mailboxes", response=responses({200: list[MailboxOut]}), summary="List mailboxes")
def list_mailboxes(request: HttpRequest, slug: str) -> list[MailboxOut]:
    access = open_org(request, slug, "configure")
    mailboxes = Mailbox.objects.filter(organization=access.organization).prefetch_related(*MANY)
    return [mailbox_out(mailbox) for mailbox in mailboxes]


@router.post(
    "/orgs/{slug}/mailboxes",
    response=responses({201: MailboxOut}, validation=True),
    summary="Add a system mailbox",
)
def create_mailbox(request: HttpRequest, slug: str, payload: MailboxIn) -> Status[MailboxOut]:
    access = open_org(request, slug, "configure")
    mailbox = _save(access.organization, Mailbox(organization=access.organization), payload)
    return Status(201, mailbox_out(mailbox))


@router.get(
    "/orgs/{slug}/mailboxes/{mailbox_id}", response=responses({200: MailboxOut}), summary="One mailbox"
)
def get_mailbox(request: HttpRequest, slug: str, mailbox_id: int) -> MailboxOut:
    access = open_org(request, slug, "configure")
    return mailbox_out(_mailbox(access.organization, mailbox_id))


@router.patch(
    "/orgs/{slug}/mailboxes/{mailbox_id}",
    response=responses({200: MailboxOut}, validation=True),
    summary="Change a mailbox (absent fields keep their values)",
)
def update_mailbox(request: HttpRequest, slug: str, mailbox_id: int, payload: MailboxPatch) -> MailboxOut:
    access = open_org(request, slug, "configure")
    mailbox = _save(access.organization, _mailbox(access.organization, mailbox_id), payload)
    return mailbox_out(mailbox)


@router.delete(
    "/orgs/{slug}/mailboxes/{mailbox_id}",
    response=responses({204: None}),
    summary="Delete a mailbox and what Postroom stored for it (the mail on the server stays)",
)
def delete_mailbox(request: HttpRequest, slug: str, mailbox_id: int) -> Status[None]:
    access = open_org(request, slug, "configure")
    _mailbox(access.organization, mailbox_id).delete()
    return Status(204, None)
