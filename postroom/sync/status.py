"""A mailbox's sync status as one document: message counts (in all and per folder), last sync, last error
and since when, backlog, quarantined (unparsable) messages. Shown by `postroom mailbox status` and the
mailbox status page; `failing_mailboxes` feeds the navigation's failing badge."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.outbox.delivery import BADGE_WINDOW
from postroom.outbox.models import FAILING, OutgoingMessage
from postroom.sync.models import Folder, MailboxSyncState, Placement

QUARANTINE_LISTED = 20  # the newest unparsable messages shown; `parse_errors` counts them all


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


def failing_mailboxes(mailboxes: QuerySet[Mailbox]) -> list[Mailbox]:
    """Those of `mailboxes` whose sync is failing now, or whose outbox failed or is retrying within the
    badge window: one query over the sync state (one row per mailbox) and the outbox's partial index."""
    since = timezone.now() - BADGE_WINDOW
    outbox_failing = OutgoingMessage.objects.filter(FAILING, mailbox=OuterRef("pk"), created_at__gte=since)
    failing = Q(sync_state__last_error_code__gt="") | Exists(outbox_failing)
    return list(mailboxes.filter(failing).order_by("label").only("pk", "label"))
