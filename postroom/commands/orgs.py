"""`postroom org ...`: organizations (tenants)."""

from __future__ import annotations

import argparse

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from postroom.commands.base import Subcommands, UsageError, print_json
from postroom.organizations.models import Organization, slug_validator


def register(subcommands: Subcommands) -> None:
    group = subcommands.add_parser("org", help="organizations").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    create = group.add_parser("create", help="create an organization; prints its id")
    create.add_argument("slug", metavar="SLUG")
    create.add_argument("--name", required=True)
    create.set_defaults(handler=handle_create)

    listing = group.add_parser("list", help="list organizations")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=handle_list)


def handle_create(args: argparse.Namespace) -> int:
    slug, name = args.slug.strip(), args.name.strip()
    try:
        slug_validator(slug)
    except ValidationError as exc:
        raise UsageError(f"slug {slug!r}: {' '.join(exc.messages)}") from None
    if not name:
        raise UsageError("--name must not be empty")
    if Organization.objects.filter(slug=slug).exists():
        raise UsageError(f"an organization with slug {slug!r} already exists")
    try:
        with transaction.atomic():
            org = Organization.objects.create(slug=slug, name=name)
    except IntegrityError:  # created by someone else between the check and the insert
        raise UsageError(f"an organization with slug {slug!r} already exists") from None
    print(org.pk)
    return 0


def handle_list(args: argparse.Namespace) -> int:
    for org in Organization.objects.order_by("slug"):
        if args.json:
            print_json({"id": org.pk, "slug": org.slug, "name": org.name})
        else:
            print(f"{org.pk}\t{org.slug}\t{org.name}")
    return 0
