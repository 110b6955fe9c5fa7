"""`postroom token create`: API tokens. The raw token is printed once and cannot be shown again."""

from __future__ import annotations

import argparse

from postroom.accounts.models import ApiToken, User
from postroom.commands.base import Subcommands, UsageError


def register(subcommands: Subcommands) -> None:
    group = subcommands.add_parser("token", help="API tokens").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    create = group.add_parser("create", help="issue an API token for a user and print it")
    create.add_argument("email", metavar="EMAIL")
    create.add_argument("--name", default="cli", help="what the token is for (default: cli)")
    create.set_defaults(handler=handle_create)


def handle_create(args: argparse.Namespace) -> int:
    user = User.objects.filter(email__iexact=args.email.strip(), is_active=True).first()
    if user is None:
        raise UsageError(f"no active user with the address {args.email}")
    name = args.name.strip()
    if not name:
        raise UsageError("--name must not be empty")
    _, raw = ApiToken.issue(user, name[:100])
    print(raw)
    return 0
