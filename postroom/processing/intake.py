"""Recording the processing jobs of newly stored mail: the only part of processing the sync needs.

The sync calls `record_new_placements` inside each batch's transaction. It lives apart from the runner
(`postroom.processing.runner`), whose steps import conversion, auto-responses, templates and the outbox:
`postroom sync` never runs them, and importing them cost every sync process ~80 ms at start-up.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from postroom.autoresponse.models import Rule
from postroom.mailboxes.models import Mailbox, ProcessType
from postroom.messages import bulk
from postroom.processing.models import InboundJob
from postroom.sync.models import Folder, Placement

JOB_COLUMNS = ("organization_id", "mailbox_id", "message_id", "folder_kind", "internal_date")


def record_new_placements(placements: Iterable[Placement]) -> int:
    """Create a pending job for each (mailbox, message) not seen before and wake a worker once the
    surrounding transaction commits. Safe inside the sync's batch transaction and safe to repeat: a
    message moved between folders, re-synced, or placed twice in one mailbox keeps its first job.
    Returns how many placements were offered."""
    offered = list(placements)
    busy = _mailboxes_with_work({p.mailbox_id for p in offered})
    rows = [p for p in offered if p.mailbox_id in busy]
    if not rows:
        return len(offered)
    kinds = dict(Folder.objects.filter(pk__in={p.folder_id for p in rows}).values_list("pk", "kind"))
    jobs: dict[tuple[int, int], tuple[object, ...]] = {}
    for p in rows:
        jobs.setdefault(
            (p.mailbox_id, p.message_id),
            (p.organization_id, p.mailbox_id, p.message_id, kinds.get(p.folder_id, "other"), p.internal_date),
        )
    # bulk.insert, not bulk_create: the ORM's per-object preparation cost more than the INSERT itself.
    bulk.insert(InboundJob, JOB_COLUMNS, jobs.values(), ignore_conflicts=True)
    mailbox_ids = sorted({p.mailbox_id for p in rows})
    transaction.on_commit(lambda: wake(mailbox_ids))
    return len(offered)


def _mailboxes_with_work(mailbox_ids: set[int]) -> set[int]:
    """The mailboxes that convert mail or have an active auto-response rule. Mail stored while a mailbox
    has neither can never be converted or answered later (both only act on mail received after they were
    turned on), so the sync records no job for it: a Do Nothing mailbox's history costs no jobs."""
    if not mailbox_ids:
        return set()
    converting = Mailbox.objects.filter(pk__in=mailbox_ids).exclude(process_type=ProcessType.NONE)
    answering = Rule.objects.filter(mailbox_id__in=mailbox_ids, active=True)
    return set(converting.values_list("pk", flat=True)) | set(answering.values_list("mailbox_id", flat=True))


def wake(mailbox_ids: list[int]) -> None:
    """Queue a run of each mailbox's due jobs."""
    from postroom.processing.tasks import process_mailbox_jobs  # huey is only needed by workers

    for mailbox_id in mailbox_ids:
        process_mailbox_jobs(mailbox_id)
