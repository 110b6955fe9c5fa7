"""`postroom mailbox status ID [--json]`: how a mailbox's sync is doing — counts, last sync, last error and
since when, backlog, quarantined (unparsable) messages. Hooked into the `mailbox` group by
`register_status(group)`."""

from __future__ import annotations

import argparse
from typing import Any

from postroom.commands.base import Subcommands, UsageError, print_json
from postroom.mailboxes.models import Mailbox


def register_status(group: Subcommands) -> None:
    status = group.add_parser("status", help="a mailbox's sync status: counts, last sync, last error")
    status.add_argument("id", metavar="ID", type=int)
    status.add_argument("--json", action="store_true", help="one JSON object")
    status.set_defaults(handler=handle_status)


def handle_status(args: argparse.Namespace) -> int:
    # Imported here: it loads the outbox and its SMTP client (~30 ms), which no other `postroom mailbox`
    # command needs at start-up.
    from postroom.sync.status import mailbox_status

    mailbox = Mailbox.objects.filter(pk=args.id).first()
    if mailbox is None:
        raise UsageError(f"no mailbox with id {args.id}")
    document = mailbox_status(mailbox)
    if args.json:
        print_json(document)
    else:
        print_text(document)
    return 0


def print_text(document: dict[str, Any]) -> None:
    box = document["mailbox"]
    print(f"mailbox {box['id']} ({box['label']} <{box['email']}>)")
    print(f"  messages: {document['messages']} (unparsable: {document['parse_errors']})")
    for folder in document["folders"]:
        gone = "" if folder["exists_on_server"] else " [gone from the server]"
        backlog = "unknown" if folder["backlog"] is None else folder["backlog"]
        print(f"  folder {folder['name']}: {folder['messages']} messages, backlog {backlog}{gone}")
    print(f"  last sync: {document['last_sync_started_at'] or 'never'}")
    print(f"  last success: {document['last_success_at'] or 'never'}")
    print(f"  next sync: {document['next_sync_at'] or 'now'}")
    for bad in document["quarantined"]:
        print(f"  unparsable message {bad['id']} ({bad['subject'] or 'no subject'}): {bad['parse_error']}")
    error = document["error"]
    if error:
        print(f"  last error: [{error['code']}] {error['message']} (since {error['since']})")
    else:
        print("  last error: none")
