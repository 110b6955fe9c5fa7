"""IMAP IDLE on INBOX (M4 "new mail within seconds"), with polling as the fallback.

`watch_mailbox` keeps one mailbox fresh until told to stop: sync, then wait in IDLE on INBOX until the
server reports a change (or `IDLE_SECONDS` pass, well under the 29 minutes RFC 2177 allows), then sync
again. On a server without IDLE, or while the mailbox fails, it waits for the mailbox's next_sync_at
instead, so back-off still applies. Each sync goes through `sync_mailbox` and its lease, so a watcher
and the scheduled syncs never sync one mailbox at the same time.
"""

from __future__ import annotations

import logging
import threading

from django.utils import timezone

from postroom.crypto import SecretUnreadable
from postroom.mailboxes.models import Mailbox
from postroom.sync import imap, lease, net
from postroom.sync.check import imap_endpoint
from postroom.sync.engine import CONNECT_TIMEOUT, SyncReport, sync_mailbox
from postroom.sync.errors import MailServerError
from postroom.sync.models import Folder

logger = logging.getLogger(__name__)

IDLE_SECONDS = 20 * 60
INBOX = "INBOX"


def wait_for_new_mail(mailbox: Mailbox, seconds: float) -> bool | None:
    """Wait in IDLE on INBOX for up to `seconds`. True: the server reported a change; False: timeout;
    None: IDLE is not possible (no IDLE capability, INBOX not ticked, or the server failed)."""
    inbox = Folder.objects.filter(mailbox=mailbox, name=INBOX, selected=True, exists_on_server=True).first()
    if inbox is None:
        return None
    try:
        with imap.connect(imap_endpoint(mailbox), net.Deadline(CONNECT_TIMEOUT)) as connection:
            if not connection.has_capability("IDLE"):
                return None
            status = connection.examine(INBOX)
            if status.uidnext is not None and status.uidnext - 1 > inbox.last_uid:
                return True  # arrived between the last sync and now: IDLE would not mention it
            return connection.idle_until_change(seconds)
    except (MailServerError, SecretUnreadable) as exc:
        logger.info("IDLE on mailbox %s not possible: %s", mailbox.pk, type(exc).__name__)
        return None


def watch_mailbox(
    mailbox: Mailbox, stop: threading.Event, idle_seconds: float = IDLE_SECONDS, rounds: int | None = None
) -> list[SyncReport]:
    """Sync, IDLE, sync... until `stop` is set (or `rounds` syncs ran); returns the reports."""
    reports: list[SyncReport] = []
    while not stop.is_set() and (rounds is None or len(reports) < rounds):
        report = sync_mailbox(mailbox)
        reports.append(report)
        if stop.is_set() or (rounds is not None and len(reports) >= rounds):
            break
        changed = wait_for_new_mail(mailbox, idle_seconds) if report.status == "ok" else None
        if changed is None:
            stop.wait(_seconds_until_due(mailbox))
    return reports


def _seconds_until_due(mailbox: Mailbox) -> float:
    state = lease.state_of(mailbox)
    if state.next_sync_at is None:
        return 0.0
    return max((state.next_sync_at - timezone.now()).total_seconds(), 0.0)
