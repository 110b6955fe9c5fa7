"""`postroom mailbox check ID` (Check Connection/Retrieve Folders) and `postroom mailbox folders ID`
(choose the folders to sync). Both act on the folder list that the web UI and the API show.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from postroom.commands.base import CommandFailed, Subcommands, UsageError, print_json
from postroom.mailboxes.models import Mailbox

# postroom.sync.check (the IMAP and SMTP clients, ~50 ms to import) is imported by the handlers that use
# it, so the other `postroom mailbox` commands do not load it at start-up.
if TYPE_CHECKING:
    from postroom.sync.check import CheckResult


def register_check(group: Subcommands) -> None:
    check = group.add_parser(
        "check", help="Check Connection/Retrieve Folders: test IMAP (and SMTP) and list the folder tree"
    )
    check.add_argument("id", metavar="ID", type=int)
    check.add_argument("--timeout", type=float, default=15.0, help="seconds for the whole check")
    check.add_argument("--json", action="store_true", help="one JSON document")
    check.set_defaults(handler=handle_check)

    folders = group.add_parser("folders", help="list the folders, or choose the ones to sync")
    folders.add_argument("id", metavar="ID", type=int)
    folders.add_argument(
        "--sync", metavar="NAME[,NAME...]", help="sync exactly these folders (comma-separated names)"
    )
    folders.add_argument("--json", action="store_true", help="one JSON object per line")
    folders.set_defaults(handler=handle_folders)


def mailbox_by_id(pk: int) -> Mailbox:
    mailbox = Mailbox.objects.select_related("organization").filter(pk=pk).first()
    if mailbox is None:
        raise UsageError(f"no mailbox with id {pk}")
    return mailbox


def handle_check(args: argparse.Namespace) -> int:
    from postroom.sync.check import check_connection, folder_summary, save_folders, stored_folders

    mailbox = mailbox_by_id(args.id)
    result = check_connection(mailbox, timeout=args.timeout)
    if result.imap is not None and result.imap.ok:
        save_folders(mailbox, result.imap.folders)
    folders = [folder_summary(f) for f in stored_folders(mailbox)]
    if args.json:
        print_json(result.to_dict() | {"folders": folders})
    else:
        print_check(result, folders)
    if not result.ok:
        raise CommandFailed("the connection check failed (see above)")
    return 0


def print_check(result: CheckResult, folders: list[dict[str, Any]]) -> None:
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    for service, outcome in (("IMAP", result.imap), ("SMTP", result.smtp)):
        if outcome is None:
            print(f"{service}: not enabled")
        elif outcome.ok:
            print(f"{service}: ok")
        else:
            print(f"{service}: failed ({outcome.error_code}): {outcome.error_message}")
    if result.imap is not None and result.imap.ok:
        print_folders(folders)


def print_folders(folders: list[dict[str, Any]]) -> None:
    """An indented tree; `[x]` marks a folder that syncs, `(gone)` one no longer on the server."""
    for folder in folders:
        depth = folder["name"].count(folder["delimiter"]) if folder["delimiter"] else 0
        box = "   " if not folder["selectable"] else ("[x]" if folder["selected"] else "[ ]")
        gone = "" if folder["exists_on_server"] else "  (gone)"
        print(f"{box} {'  ' * depth}{folder['display_name']}  [{folder['kind']}]{gone}")


def handle_folders(args: argparse.Namespace) -> int:
    from postroom.sync.check import UnknownFolders, folder_summary, select_folders, stored_folders

    mailbox = mailbox_by_id(args.id)
    if args.sync is not None:
        names = [name.strip() for name in args.sync.split(",") if name.strip()]
        if not names:
            raise UsageError("--sync needs at least one folder name")
        try:
            select_folders(mailbox, names)
        except UnknownFolders as exc:
            raise UsageError(str(exc)) from None
    folders = [folder_summary(f) for f in stored_folders(mailbox)]
    if not folders:
        raise UsageError(
            f"mailbox {mailbox.pk} has no folders yet: run `postroom mailbox check {mailbox.pk}`"
        )
    if args.json:
        for folder in folders:
            print_json(folder)
    else:
        print_folders(folders)
    return 0
