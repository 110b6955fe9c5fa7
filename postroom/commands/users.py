"""`postroom user ...`: people and their membership of an organization."""

from __future__ import annotations

import argparse
import sys

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.db import transaction

from postroom.accounts.models import User
from postroom.commands.base import (
    FieldErrors,
    Subcommands,
    UsageError,
    checked_email,
    organization,
    print_json,
    read_secret_from_stdin,
)
from postroom.organizations.models import Membership, Organization, Role


def register(subcommands: Subcommands) -> None:
    group = subcommands.add_parser("user", help="users and memberships").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    create = group.add_parser(
        "create",
        help="create a user if missing and add (or update) their membership of an organization",
        description="Roles and admin flags are added, never taken away. An existing user keeps their "
        "password; a new one needs --password-stdin.",
    )
    create.add_argument("email", metavar="EMAIL")
    create.add_argument("--org", required=True, metavar="SLUG")
    create.add_argument("--role", action="append", default=[], metavar="ROLE", help="repeatable")
    create.add_argument("--org-admin", action="store_true", help="make them an organization admin")
    create.add_argument("--platform-admin", action="store_true", help="make them a platform admin")
    create.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    create.add_argument("--json", action="store_true")
    create.set_defaults(handler=handle_create)

    password = group.add_parser("set-password", help="set a user's password (read from stdin)")
    password.add_argument("email", metavar="EMAIL")
    password.add_argument("--password-stdin", action="store_true", required=True)
    password.set_defaults(handler=handle_set_password)


def checked_password(password: str, user: User) -> str:
    try:
        validate_password(password, user=user)
    except ValidationError as exc:
        raise FieldErrors(("password", message) for message in exc.messages) from None
    return password


def roles_by_name(org: Organization, names: list[str]) -> list[Role]:
    """The named roles of `org`; a missing one is created without configure permission (said on stderr)."""
    roles: list[Role] = []
    for raw in names:
        name = raw.strip()
        if not name:
            raise UsageError("--role must not be empty")
        role = Role.objects.filter(organization=org, name__iexact=name).first()
        if role is None:
            role = Role.objects.create(organization=org, name=name, can_configure=False)
            print(f"created role {name!r} in {org.slug} (without configure permission)", file=sys.stderr)
        roles.append(role)
    return roles


def handle_create(args: argparse.Namespace) -> int:
    email = checked_email(args.email)
    org = organization(args.org)
    user = User.objects.filter(email__iexact=email).first()
    created = user is None
    password = read_secret_from_stdin() if args.password_stdin else None
    if user is None:
        if password is None:
            raise UsageError("a new user needs a password: pass it on stdin with --password-stdin")
        checked_password(password, User(email=email))
    elif password is not None:
        print(f"{email} already exists: their password is left unchanged", file=sys.stderr)

    with transaction.atomic():
        if user is None:
            assert password is not None
            user = User.objects.create_user(email, password)
        if args.platform_admin and not user.is_superuser:
            user.is_superuser = user.is_staff = True
            user.save(update_fields=["is_superuser", "is_staff"])
        membership, _ = Membership.objects.get_or_create(user=user, organization=org)
        if args.org_admin and not membership.is_admin:
            membership.is_admin = True
            membership.save(update_fields=["is_admin"])
        membership.roles.add(*roles_by_name(org, args.role))

    if args.json:
        print_json(
            {
                "id": user.pk,
                "email": user.email,
                "created": created,
                "organization": org.slug,
                "org_admin": membership.is_admin,
                "platform_admin": user.is_superuser,
                "roles": sorted(role.name for role in membership.roles.all()),
            }
        )
    else:
        print(user.pk)
    return 0


def handle_set_password(args: argparse.Namespace) -> int:
    user = User.objects.filter(email__iexact=args.email.strip()).first()
    if user is None:
        raise UsageError(f"no user with the address {args.email}")
    user.set_password(checked_password(read_secret_from_stdin(), user))
    user.save(update_fields=["password"])
    return 0
