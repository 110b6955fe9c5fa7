"""Huey tasks of the sync (discovered by djhuey's autodiscovery of `tasks` modules).

Every minute `enqueue_due_syncs` queues `sync_mailbox_task` for each due mailbox, after moving its
next_sync_at ahead with a conditional UPDATE (so several worker processes do not queue it twice). Running
either task twice is harmless anyway: the sync task claims the mailbox's lease and does nothing when
another worker holds it.
"""

from __future__ import annotations

from django.utils import timezone
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task

from postroom.mailboxes.models import Mailbox
from postroom.sync import engine, scheduler


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]  # huey is untyped
def enqueue_due_syncs() -> int:
    """Queue a sync of every due mailbox; returns how many were queued."""
    now = timezone.now()
    queued = 0
    for mailbox in scheduler.due_mailboxes(now):
        if scheduler.reserve(mailbox, now):  # another scheduler may have queued it just now
            sync_mailbox_task(mailbox.pk)
            queued += 1
    return queued


@db_task()  # type: ignore[untyped-decorator]  # huey is untyped
def sync_mailbox_task(mailbox_id: int) -> str:
    """Sync one mailbox (skipped when another worker holds its lease); returns the run's status."""
    mailbox = Mailbox.objects.select_related("organization").filter(pk=mailbox_id).first()
    if mailbox is None:
        return "gone"
    return engine.sync_mailbox(mailbox).status
