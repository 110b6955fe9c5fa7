"""Huey tasks of the sync (imported by the worker, which loads every app's `tasks` module).

Every minute `enqueue_due_syncs` queues `sync_mailbox_task` for each mailbox due before the minute ends,
after moving its next_sync_at ahead with a conditional UPDATE (so several worker processes do not queue
it twice; see `scheduler.take_due`). Running either task twice is harmless anyway: the sync task claims
the mailbox's lease and does nothing when another worker holds it. While all of the worker's sync slots
are taken (`postroom.sync.slots`) the sync task puts itself back on the queue for a little later.
"""

from __future__ import annotations

import logging

from django.utils import timezone

from postroom.logs import log_context
from postroom.mailboxes.models import Mailbox
from postroom.queue import crontab, db_periodic_task, db_task
from postroom.sync import engine, scheduler
from postroom.sync.slots import sync_slot

logger = logging.getLogger(__name__)
# A sync task that finds all of this worker's sync slots taken runs again this much later.
BUSY_RETRY_SECONDS = 10


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]  # huey is untyped
def enqueue_due_syncs() -> int:
    """Queue a sync of every mailbox due this minute; returns how many were queued."""
    due = scheduler.take_due(timezone.now())  # another worker's scheduler may have taken some already
    for mailbox in due:
        sync_mailbox_task(mailbox.pk)
    return len(due)


@db_task()  # type: ignore[untyped-decorator]  # huey is untyped
def sync_mailbox_task(mailbox_id: int) -> str:
    """Sync one mailbox (skipped when another worker holds its lease); returns the run's status."""
    mailbox = Mailbox.objects.select_related("organization").filter(pk=mailbox_id).first()
    if mailbox is None:
        return "gone"
    with (
        log_context(organization=mailbox.organization.slug, mailbox=mailbox.pk),
        sync_slot(wait=False) as taken,
    ):
        if not taken:  # waiting would hold a queue thread other tasks (the outbox) need
            sync_mailbox_task.schedule((mailbox_id,), delay=BUSY_RETRY_SECONDS)
            return "deferred"
        report = engine.sync_mailbox(mailbox)
        logger.info("sync %s: %d fetched", report.status, report.fetched)
        return report.status
