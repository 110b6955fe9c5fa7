"""`postroom audit list`: an organization's audit log, newest first."""

from __future__ import annotations

import argparse
import json

from postroom.audit.models import ObjectType
from postroom.audit.queries import audit_page, entry_document
from postroom.commands.base import Subcommands, UsageError, organization, print_json


def register(subcommands: Subcommands) -> None:
    group = subcommands.add_parser("audit", help="the audit log").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    listing = group.add_parser("list", help="who changed what in an organization, newest first")
    listing.add_argument("--org", required=True, metavar="SLUG")
    listing.add_argument("--type", default="", choices=ObjectType.values, help="only this kind of object")
    listing.add_argument("--limit", type=int, default=100, help="at most this many entries (default 100)")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=handle_list)


def handle_list(args: argparse.Namespace) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    page = audit_page(organization(args.org), args.type, limit=args.limit)
    for entry in page.entries:
        if args.json:
            print_json(entry_document(entry))
        else:
            changes = json.dumps(entry.changes, sort_keys=True, default=str)
            print(
                f"{entry.at:%Y-%m-%d %H:%M:%S}\t{entry.actor_label}\t{entry.action}\t"
                f"{entry.object_type}\t{entry.object_label}\t{changes}"
            )
    return 0
