"""`postroom mailbox status ID [--json]`: how a mailbox's sync is doing — counts, last sync, last error and
since when, backlog, quarantined (unparsable) messages. Hooked into the `mailbox` group by
`register_status(group)`."""

from __future__ import annotations

import argparse
from typing import Any

from django.db.models import Count

from postroom.commands.base import Subcommands, UsageError, print_json
from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.sync.models import Folder, MailboxSyncState, Placement

QUARANTINE_LISTED = 20  # the newest unparsable messages shown; `parse_errors` counts them all


def register_status(group: Subcommands) -> None:
    status = group.add_parser("status", help="a mailbox's sync status: counts, last sync, last error")
    status.add_argument("id", metavar="ID", type=int)
    status.add_argument("--json", action="store_true", help="one JSON object")
    status.set_defaults(handler=handle_status)


def handle_status(args: argparse.Namespace) -> int:
    mailbox = Mailbox.objects.filter(pk=args.id).first()
    if mailbox is None:
        raise UsageError(f"no mailbox with id {args.id}")
    document = mailbox_status(mailbox)
    if args.json:
        print_json(document)
    else:
        print_text(document)
    return 0


def mailbox_status(mailbox: Mailbox) -> dict[str, Any]:
    """The status document (also what --json prints). `backlog` per folder is the server's UIDNEXT - 1
    minus our checkpoint as of the last run (null when unknown)."""
    state = MailboxSyncState.objects.filter(mailbox=mailbox).first()
    placed = Message.objects.filter(placements__mailbox=mailbox).distinct()
    folder_counts = dict(
        Placement.objects.filter(mailbox=mailbox)
        .values_list("folder_id")
        .annotate(n=Count("id"))
        .values_list("folder_id", "n")
    )
    folders = [
        _folder(f, folder_counts.get(f.pk, 0)) for f in Folder.objects.filter(mailbox=mailbox, selected=True)
    ]
    backlogs = [f["backlog"] for f in folders if f["backlog"] is not None]
    return {
        "mailbox": {"id": mailbox.pk, "label": mailbox.label, "email": mailbox.email},
        "messages": placed.count(),
        "parse_errors": placed.exclude(parse_error="").count(),
        "quarantined": [
            {"id": pk, "subject": subject, "parse_error": error}
            for pk, subject, error in placed.exclude(parse_error="")
            .order_by("-pk")
            .values_list("pk", "subject", "parse_error")[:QUARANTINE_LISTED]
        ],
        "folders": folders,
        "backlog": sum(backlogs) if backlogs else None,
        "last_sync_started_at": _iso(state.last_sync_started_at if state else None),
        "last_success_at": _iso(state.last_success_at if state else None),
        "next_sync_at": _iso(state.next_sync_at if state else None),
        "syncing_now": bool(state and state.lease_owner),
        "error": _error(state),
        "consecutive_failures": state.consecutive_failures if state else 0,
        "runs": state.runs if state else 0,
        "messages_fetched": state.messages_fetched if state else 0,
        "messages_created": state.messages_created if state else 0,
    }


def _folder(folder: Folder, count: int) -> dict[str, Any]:
    backlog = max(folder.uidnext - 1 - folder.last_uid, 0) if folder.uidnext else None
    return {
        "name": folder.display_name,
        "messages": count,
        "exists_on_server": folder.exists_on_server,
        "last_uid": folder.last_uid,
        "uidvalidity": folder.uidvalidity,
        "backlog": backlog,
    }


def _error(state: MailboxSyncState | None) -> dict[str, Any] | None:
    if state is None or not state.last_error_code:
        return None
    return {"code": state.last_error_code, "message": state.last_error, "since": _iso(state.error_since)}


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


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
