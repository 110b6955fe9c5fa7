"""Builders for test data, so no test writes the same setup twice."""

from __future__ import annotations

import itertools
from typing import Any

from postroom.accounts.models import User
from postroom.crm.models import LeadSource
from postroom.mailboxes.models import Mailbox
from postroom.organizations.models import Membership, Organization, Role

PASSWORD = "correct horse battery staple"
MAILBOX_PASSWORD = "imap-Secret-!x9Q"
_seq = itertools.count(1)


def make_org(slug: str | None = None, name: str | None = None) -> Organization:
    n = next(_seq)
    slug = slug or f"org-{n}"
    return Organization.objects.create(slug=slug, name=name or slug.title())


def make_role(org: Organization, name: str = "Sales", can_configure: bool = False) -> Role:
    return Role.objects.create(organization=org, name=name, can_configure=can_configure)


def make_user(
    email: str | None = None,
    org: Organization | None = None,
    *,
    admin: bool = False,
    roles: tuple[Role, ...] = (),
    platform_admin: bool = False,
) -> User:
    email = email or f"user{next(_seq)}@example.com"
    if platform_admin:
        user = User.objects.create_superuser(email, PASSWORD)
    else:
        user = User.objects.create_user(email, PASSWORD)
    if org is not None:
        membership = Membership.objects.create(user=user, organization=org, is_admin=admin)
        membership.roles.set(roles)
    return user


def make_lead_source(org: Organization, label: str = "Email", **extra: Any) -> LeadSource:
    key = extra.pop("key", label.lower().replace(" ", "-"))
    return LeadSource.objects.create(organization=org, key=key, label=label, **extra)


def make_mailbox(org: Organization, label: str = "Support", **extra: Any) -> Mailbox:
    fields: dict[str, Any] = {
        "email": f"{label.lower().replace(' ', '-')}@{org.slug}.example.com",
        "imap_host": "imap.example.com",
        "imap_port": 993,
        "username": "support",
    }
    fields.update(extra)
    password = fields.pop("password", MAILBOX_PASSWORD)
    mailbox = Mailbox(organization=org, label=label, **fields)
    mailbox.set_password(password)
    mailbox.save()
    return mailbox
