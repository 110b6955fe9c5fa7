"""Huey tasks of the inbound pipeline (imported by the worker, which loads every app's `tasks` module).

`process_mailbox_jobs` is queued after a sync batch commits; `sweep_inbound_jobs` runs every minute and
picks up whatever is due (retries, and work whose wake-up was lost). Both are safe to run twice at once:
each job is claimed by a conditional UPDATE before it runs.
"""

from __future__ import annotations

from django.utils import timezone

from postroom.logs import log_context
from postroom.operations.liveness import expire_dead_claims
from postroom.processing.models import InboundJob, JobStatus
from postroom.queue import crontab, db_periodic_task, db_task

# The runner (and the steps it imports: conversion, auto-responses, templates, the outbox) is imported
# when a task runs, not with this module: a sync queues these tasks after every batch, and `postroom sync`
# would otherwise load all of processing for nothing.


@db_task()  # type: ignore[untyped-decorator]  # huey is untyped
def process_mailbox_jobs(mailbox_id: int) -> int:
    """Run the due jobs of one mailbox; returns how many ran."""
    from postroom.processing.runner import run_due_jobs

    with log_context(mailbox=mailbox_id):
        return run_due_jobs(mailbox_id=mailbox_id)


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]  # huey is untyped
def sweep_inbound_jobs() -> int:
    """Run every due job of every mailbox (first freeing jobs held by dead workers); returns how many ran."""
    from postroom.processing.runner import run_due_jobs

    expire_dead_claims(InboundJob.objects.filter(status=JobStatus.RUNNING), timezone.now())
    return run_due_jobs()
