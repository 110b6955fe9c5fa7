"""`postroom sync --once [--mailbox ID]`: sync the due mailboxes (or the given one) in this process and
exit. One line per mailbox; exit code 1 if any mailbox failed. Continuous syncing is `postroom worker`.
"""

from __future__ import annotations

import argparse

from postroom.commands.base import Subcommands, UsageError
from postroom.mailboxes.models import Mailbox
from postroom.sync.engine import SyncReport, sync_due, sync_mailbox


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser(
        "sync",
        help="sync mailboxes from their IMAP servers once",
        description="Syncs every due mailbox (or only --mailbox ID, due or not) and exits; exit code 1 "
        "if any mailbox failed. The worker (`postroom worker`) syncs continuously.",
    )
    parser.add_argument("--mailbox", type=int, metavar="ID", help="sync only this mailbox, even if not due")
    parser.add_argument("--once", action="store_true", required=True, help="run once and exit")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if args.mailbox is not None:
        mailbox = Mailbox.objects.select_related("organization").filter(pk=args.mailbox).first()
        if mailbox is None:
            raise UsageError(f"no mailbox with id {args.mailbox}")
        if not mailbox.imap_enabled:
            raise UsageError(f"mailbox {mailbox.pk} has IMAP disabled")
        reports = [sync_mailbox(mailbox)]
    else:
        reports = sync_due()
        if not reports:
            print("no mailbox is due")
    for report in reports:
        print(report_line(report), flush=True)
    return 1 if any(report.failed for report in reports) else 0


def report_line(report: SyncReport) -> str:
    """`mailbox 3 (Support): ok, 12 new messages (15 fetched, 1 unparsable), 1 removed[; warning ...]`"""
    head = f"mailbox {report.mailbox_id} ({report.label}):"
    if report.status == "skipped":
        return f"{head} skipped: another worker is syncing it"
    counts = f"{report.created} new messages ({report.fetched} fetched"
    if report.parse_errors:
        counts += f", {report.parse_errors} unparsable"
    counts += ")"
    removed = sum(f.removed for f in report.folders)
    if removed:
        counts += f", {removed} removed on the server"
    if report.status == "failed":
        return f"{head} FAILED [{report.error_code}] {report.error} (before failing: {counts})"
    line = f"{head} ok, {counts}"
    for warning in report.warnings:
        line += f"; WARNING {warning}"
    return line
