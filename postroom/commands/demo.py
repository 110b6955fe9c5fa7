"""`postroom demo`: the demo organization, created idempotently (also what `postroom run --demo` does).

The demo users share one random password generated on first use and kept in the data directory
(file `demo-password`, mode 0600), so every run can print a login that works.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass

from django.db import transaction

from postroom.accounts.models import User
from postroom.commands.base import Subcommands
from postroom.crm.models import LeadSource
from postroom.datadir import secret_file
from postroom.organizations.models import Membership, Organization, Role

DEMO_SLUG = "demo"
DEMO_NAME = "Demo Organization"
ADMIN_EMAIL = "admin@demo.postroom.test"
SALES_EMAIL = "sales@demo.postroom.test"
ROLES = (("Sales", False), ("Support", False), ("Administrator", True))
LEAD_SOURCES = (
    ("email", "Email"),
    ("website", "Website"),
    ("referral", "Referral"),
    ("trade-show", "Trade Show"),
)


@dataclass(frozen=True)
class DemoLogin:
    email: str
    password: str
    what: str


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser("demo", help="create the demo organization and users (idempotent)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    logins = ensure_demo()
    print(f"Demo organization: {DEMO_NAME} ({DEMO_SLUG})")
    print_logins(logins)
    return 0


def print_logins(logins: list[DemoLogin]) -> None:
    for login in logins:
        print(f"Demo login: {login.email} / {login.password}   ({login.what})", flush=True)


def ensure_demo() -> list[DemoLogin]:
    """Create whatever of the demo data is missing; returns the logins to print."""
    password = secret_file("demo-password", "login")
    with transaction.atomic():
        org, _ = Organization.objects.get_or_create(slug=DEMO_SLUG, defaults={"name": DEMO_NAME})
        roles = {name: ensure_role(org, name, can_configure) for name, can_configure in ROLES}
        for position, (key, label) in enumerate(LEAD_SOURCES, start=1):
            LeadSource.objects.get_or_create(
                organization=org, key=key, defaults={"label": label, "position": position}
            )
        admin = ensure_user(ADMIN_EMAIL, password, platform_admin=True)
        ensure_membership(admin, org, roles["Administrator"], admin=True)
        sales = ensure_user(SALES_EMAIL, password, platform_admin=False)
        ensure_membership(sales, org, roles["Sales"], admin=False)
    return [
        DemoLogin(ADMIN_EMAIL, password, "organization admin and platform admin"),
        DemoLogin(SALES_EMAIL, password, "member with the Sales role"),
    ]


def ensure_role(org: Organization, name: str, can_configure: bool) -> Role:
    role = Role.objects.filter(organization=org, name__iexact=name).first()
    if role is None:
        role = Role.objects.create(organization=org, name=name, can_configure=can_configure)
    return role


def ensure_user(email: str, password: str, *, platform_admin: bool) -> User:
    user = User.objects.filter(email__iexact=email).first()
    if user is None:
        user = User.objects.create_user(email, password)
    elif not user.check_password(password):
        # The printed login must work, even if the database outlived an older data directory.
        user.set_password(password)
        user.save(update_fields=["password"])
    if platform_admin and not user.is_superuser:
        user.is_superuser = user.is_staff = True
        user.save(update_fields=["is_superuser", "is_staff"])
    return user


def ensure_membership(user: User, org: Organization, role: Role, *, admin: bool) -> None:
    membership, _ = Membership.objects.get_or_create(
        user=user, organization=org, defaults={"is_admin": admin}
    )
    membership.roles.add(role)
