"""When each mailbox syncs next: the organization's interval after a good run, exponential back-off
(capped) after failures, and which mailboxes are due now.

The periodic task runs once a minute on every worker, each at its own second of the minute (Huey counts
60 s from the worker's start). So the scheduler takes, in each minute, every mailbox falling due before
that minute ends (`take_due`): a mailbox due at 12:01:30 is synced at the first scheduler run of 12:01,
not at 12:02. Taking a mailbox in minute M moves its next_sync_at into minute M+N (`reserve`), and a
successful run keeps it on that schedule however late in a minute it was queued and however long it took
(`next_sync_after_success`), so an interval of N minutes syncs every N minutes.
"""

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


def next_sync_after_success(
    mailbox: Mailbox, scheduled: datetime | None, started: datetime | None, now: datetime
) -> datetime:
    """When a run that started at `started` and succeeded at `now` is due again, given the mailbox's
    next_sync_at at its end (`scheduled`). That stays when it is a slot after the start: the scheduler
    reserved it (`reserve`) one interval past the minute it queued the run in, or past a later minute
    while the run went on. Counting from the start or the end instead would skip a minute whenever the
    run slipped into the next minute, or bring a slot reserved during a long run back into the current
    minute, to be queued twice. Otherwise (no slot, or a back-off reaching further than an interval past
    the end, which a success ends) one interval after the start. Never before `now`: a run longer than the
    interval is due again at once, and queued once, not once for every interval it missed."""
    start = started or now
    interval = timedelta(minutes=interval_minutes(mailbox))
    if scheduled is not None and start < scheduled <= end_of_minute(now + interval):
        return max(scheduled, now)
    return max(start + interval, now)


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


def end_of_minute(now: datetime) -> datetime:
    """The last instant of `now`'s minute: the horizon of one minute's scheduler runs."""
    return now.replace(second=0, microsecond=0) + timedelta(minutes=1, microseconds=-1)


def take_due(now: datetime) -> list[Mailbox]:
    """The mailboxes this scheduler run queues: those due before the minute ends, each reserved here. All
    scheduler runs of one minute (one per worker) share the horizon, so only the first takes a mailbox;
    the reservation (and the sync's own next_sync_at) puts it into minute M+N, where it is taken again."""
    horizon = end_of_minute(now)
    return [mailbox for mailbox in due_mailboxes(horizon) if reserve(mailbox, horizon)]


def reserve(mailbox: Mailbox, now: datetime) -> bool:
    """Move a due mailbox's next_sync_at one interval ahead before queueing its sync, with a conditional
    UPDATE: when several worker processes run the periodic task, only one queues each mailbox. The run
    keeps this slot when it succeeds (`next_sync_after_success`); if the queued task is lost, the mailbox
    is due again after one interval."""
    state = lease.state_of(mailbox)
    due = Q(next_sync_at__isnull=True) | Q(next_sync_at__lte=now)
    ahead = now + timedelta(minutes=interval_minutes(mailbox))
    return MailboxSyncState.objects.filter(due, pk=state.pk).update(next_sync_at=ahead) == 1
