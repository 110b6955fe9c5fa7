"""`postroom mailbox ...`: system mailboxes. Creation validates through the shared MailboxForm, so the
command line accepts exactly what the web UI and the API accept.
"""

from __future__ import annotations

import argparse
from typing import Any

from django import forms
from django.db import transaction

from postroom.commands.base import (
    FieldErrors,
    Subcommands,
    UsageError,
    member,
    organization,
    print_json,
    read_secret_from_stdin,
)
from postroom.commands.mailbox_check import register_check
from postroom.commands.mailbox_status import register_status
from postroom.crm.models import LeadSource
from postroom.mailboxes.forms import MailboxForm
from postroom.mailboxes.models import CasePriority, CaseStatus, Encryption, Mailbox, ProcessType
from postroom.organizations.models import Organization, Role


def register(subcommands: Subcommands) -> None:
    group = subcommands.add_parser("mailbox", help="system mailboxes").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    register_create(group)
    register_status(group)
    register_check(group)

    listing = group.add_parser("list", help="an organization's mailboxes")
    listing.add_argument("--org", required=True, metavar="SLUG")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=handle_list)

    password = group.add_parser("set-password", help="set a mailbox's password (read from stdin)")
    password.add_argument("id", metavar="ID", type=int)
    password.add_argument("--password-stdin", action="store_true", required=True)
    password.set_defaults(handler=handle_set_password)


def register_create(group: Subcommands) -> None:
    create = group.add_parser(
        "create",
        help="add a system mailbox; prints its id",
        description="SMTP is enabled when --smtp-host is given. The password is read from stdin only.",
    )
    encryptions = [choice.value for choice in Encryption]
    create.add_argument("--org", required=True, metavar="SLUG")
    create.add_argument("--label", required=True)
    create.add_argument("--email", required=True, metavar="ADDR")
    create.add_argument("--imap-host", required=True, metavar="H")
    create.add_argument("--imap-port", default="993", metavar="P")
    create.add_argument("--imap-encryption", choices=encryptions, default=Encryption.SSL.value)
    create.add_argument("--smtp-host", metavar="H")
    create.add_argument("--smtp-port", default="587", metavar="P")
    create.add_argument("--smtp-encryption", choices=encryptions, default=Encryption.STARTTLS.value)
    create.add_argument("--user", required=True, metavar="U", help="the login name on the server")
    create.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    create.add_argument("--no-verify-tls", action="store_true", help="do not verify TLS certificates")
    create.add_argument("--sync-since", metavar="YYYY-MM-DD", help="first sync takes mail from this day on")
    create.add_argument("--process", choices=[c.value for c in ProcessType], default=ProcessType.NONE.value)
    create.add_argument("--owner", metavar="EMAIL", help="owner of new leads or cases")
    create.add_argument("--source", metavar="KEY", help="lead source key (for --process lead)")
    create.add_argument("--assign-to", metavar="EMAIL", help="assignee of new cases")
    create.add_argument("--case-status", choices=[c.value for c in CaseStatus], default=CaseStatus.OPEN.value)
    create.add_argument(
        "--case-priority", choices=[c.value for c in CasePriority], default=CasePriority.NORMAL.value
    )
    create.add_argument("--access-role", action="append", default=[], metavar="ROLE", help="repeatable")
    create.add_argument("--access-user", action="append", default=[], metavar="EMAIL", help="repeatable")
    create.set_defaults(handler=handle_create)


def form_errors(form: forms.BaseForm) -> list[tuple[str, str]]:
    """Every error as (field, message); errors not tied to a field are reported under "mailbox"."""
    return [
        ("mailbox" if field == "__all__" else field, str(message))
        for field, messages in form.errors.items()
        for message in messages
    ]


def role_ids(org: Organization, names: list[str]) -> list[int]:
    ids: list[int] = []
    for name in names:
        role = Role.objects.filter(organization=org, name__iexact=name.strip()).first()
        if role is None:
            raise FieldErrors([("access_roles", f"{org.slug} has no role named {name!r}")])
        ids.append(role.pk)
    return ids


def source_id(org: Organization, key: str | None) -> int | None:
    if not key:
        return None
    source = LeadSource.objects.filter(organization=org, key=key.strip()).first()
    if source is None:
        raise FieldErrors([("lead_source", f"{org.slug} has no lead source with key {key!r}")])
    return source.pk


def form_data(args: argparse.Namespace, org: Organization, password: str) -> dict[str, Any]:
    """The MailboxForm's input, as a browser would post it, from the command's options."""
    owner = member(org, args.owner, "owner").pk if args.owner else None
    assignee = member(org, args.assign_to, "case_assignee").pk if args.assign_to else None
    return {
        "label": args.label,
        "email": args.email,
        "imap_enabled": True,
        "imap_host": args.imap_host,
        "imap_port": args.imap_port,
        "imap_encryption": args.imap_encryption,
        "smtp_enabled": bool(args.smtp_host),
        "smtp_host": args.smtp_host or "",
        "smtp_port": args.smtp_port,
        "smtp_encryption": args.smtp_encryption,
        "username": args.user,
        "password": password,
        "verify_tls": not args.no_verify_tls,
        "sync_since": args.sync_since or "",
        "process_type": args.process,
        "owner": owner,
        "lead_source": source_id(org, args.source),
        "case_assignee": assignee,
        "case_status": args.case_status,
        "case_priority": args.case_priority,
        "access_roles": role_ids(org, args.access_role),
        "access_users": [member(org, email, "access_users").pk for email in args.access_user],
    }


def handle_create(args: argparse.Namespace) -> int:
    org = organization(args.org)
    password = read_secret_from_stdin() if args.password_stdin else ""
    form = MailboxForm(data=form_data(args, org, password), organization=org)
    if not form.is_valid():
        raise FieldErrors(form_errors(form))
    with transaction.atomic():
        mailbox = form.save()
    print(mailbox.pk)
    return 0


def summary(mailbox: Mailbox) -> dict[str, Any]:
    """What `mailbox list` shows: the settings, whether a password is stored, never the password."""
    return {
        "id": mailbox.pk,
        "organization": mailbox.organization.slug,
        "label": mailbox.label,
        "email": mailbox.email,
        **mailbox.server_settings(),
        "user": mailbox.username,
        "has_password": mailbox.has_password,
        "verify_tls": mailbox.verify_tls,
        "process": mailbox.process_type,
    }


def handle_list(args: argparse.Namespace) -> int:
    org = organization(args.org)
    for mailbox in Mailbox.objects.filter(organization=org).select_related("organization").order_by("id"):
        if args.json:
            print_json(summary(mailbox))
            continue
        imap = f"{mailbox.imap_host}:{mailbox.imap_port}" if mailbox.imap_enabled else "-"
        flags = "" if mailbox.has_password else "\t(password needed)"
        print(f"{mailbox.pk}\t{mailbox.label}\t{mailbox.email}\t{imap}\t{mailbox.process_type}{flags}")
    return 0


def handle_set_password(args: argparse.Namespace) -> int:
    mailbox = Mailbox.objects.filter(pk=args.id).first()
    if mailbox is None:
        raise UsageError(f"no mailbox with id {args.id}")
    mailbox.set_password(read_secret_from_stdin())
    mailbox.save(update_fields=["password_ciphertext", "updated_at"])
    return 0
