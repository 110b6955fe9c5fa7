"""When each mailbox syncs next: the organization's interval after a good run, exponential back-off
(capped) after failures, and which mailboxes are due now."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet

from postroom.mailboxes.models import Mailbox
from postroom.organizations import config
from postroom.sync import lease
from postroom.sync.models import Folder, MailboxSyncState

MAX_BACKOFF_MINUTES = 60


def interval_minutes(mailbox: Mailbox) -> int:
    """The organization's "email.sync_interval_minutes" (global default 1)."""
    return int(config.get("email.sync_interval_minutes", mailbox.organization))


def next_sync_after_success(mailbox: Mailbox, now: datetime) -> datetime:
    return now + timedelta(minutes=interval_minutes(mailbox))


def next_sync_after_failure(mailbox: Mailbox, now: datetime, consecutive_failures: int) -> datetime:
    """interval * 2^(failures-1), at most MAX_BACKOFF_MINUTES (but never less than the interval): a dead
    server is not hammered every minute, and a fixed one is back within the hour."""
    interval = interval_minutes(mailbox)
    exponent = min(max(consecutive_failures - 1, 0), 16)
    minutes = max(min(interval * 2**exponent, MAX_BACKOFF_MINUTES), interval)
    return now + timedelta(minutes=minutes)


def syncable_mailboxes() -> QuerySet[Mailbox]:
    """Mailboxes with IMAP on and at least one ticked folder."""
    ticked = Folder.objects.filter(mailbox=OuterRef("pk"), selected=True, selectable=True)
    return (
        Mailbox.objects.filter(Exists(ticked), imap_enabled=True)
        .select_related("organization")
        .order_by("pk")
    )


def due_mailboxes(now: datetime) -> list[Mailbox]:
    """Syncable mailboxes whose next_sync_at has come (or that never synced)."""
    waiting = MailboxSyncState.objects.filter(mailbox=OuterRef("pk"), next_sync_at__gt=now)
    return list(syncable_mailboxes().exclude(Exists(waiting)))


def reserve(mailbox: Mailbox, now: datetime) -> bool:
    """Move a due mailbox's next_sync_at one interval ahead before queueing its sync, with a conditional
    UPDATE: when several worker processes run the periodic task, only one queues each mailbox. The run
    itself sets next_sync_at again when it ends; if the queued task is lost, the mailbox is due again
    after one interval."""
    state = lease.state_of(mailbox)
    due = Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=now)
    ahead = now + timedelta(minutes=interval_minutes(mailbox))
    return MailboxSyncState.objects.filter(due, pk=state.pk).update(next_sync_at=ahead) == 1
