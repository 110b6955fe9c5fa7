"""Running inbound jobs: create them with the sync's batch, claim them one at a time, run the steps,
retry with back-off, and never lose one.

- `record_new_placements` is called inside the sync's batch transaction, so a job exists exactly when
  its message and placement committed; the worker is woken only after that commit (`on_commit`).
- A periodic sweep (`tasks.sweep_inbound_jobs`) runs whatever is due, so a lost wake-up delays a job by
  at most a minute and never drops it.
- Claiming is a conditional UPDATE (pending and due, or running with an expired lease -> running, with a
  fresh claim token), checked by its row count: two workers never run one job at once, and a worker
  killed mid-job leaves a lease that expires. Results are saved only under the claim token, so a worker
  whose lease was taken over cannot overwrite the new owner's work.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from postroom.autoresponse.models import Rule
from postroom.mailboxes.models import Mailbox, ProcessType
from postroom.processing.models import Conversion, InboundJob, JobStatus
from postroom.processing.steps import STEPS, StepFailed
from postroom.sync.models import Folder, Placement

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 6
FIRST_DELAY = timedelta(minutes=1)
MAX_DELAY = timedelta(hours=1)
SWEEP_LIMIT = 500


class LostClaim(Exception):
    """Another worker took the job over (our lease expired): stop without saving anything."""


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
    jobs: dict[tuple[int, int], InboundJob] = {}
    for p in rows:
        jobs.setdefault(
            (p.mailbox_id, p.message_id),
            InboundJob(
                organization_id=p.organization_id,
                mailbox_id=p.mailbox_id,
                message_id=p.message_id,
                folder_kind=kinds.get(p.folder_id, "other"),
                internal_date=p.internal_date,
            ),
        )
    InboundJob.objects.bulk_create(list(jobs.values()), ignore_conflicts=True, batch_size=500)
    mailbox_ids = sorted({p.mailbox_id for p in rows})
    transaction.on_commit(lambda: _wake(mailbox_ids))
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


def _wake(mailbox_ids: list[int]) -> None:
    from postroom.processing.tasks import process_mailbox_jobs  # huey is only needed by workers

    for mailbox_id in mailbox_ids:
        process_mailbox_jobs(mailbox_id)


def due(now: datetime) -> Q:
    """Jobs a worker may claim at `now`."""
    return Q(status=JobStatus.PENDING, next_attempt_at__lte=now) | Q(
        status=JobStatus.RUNNING, lease_expires_at__lt=now
    )


def run_due_jobs(mailbox_id: int | None = None, now: datetime | None = None, limit: int = SWEEP_LIMIT) -> int:
    """Run the due jobs (of one mailbox, or all), oldest first; returns how many this worker ran."""
    now = now or timezone.now()
    candidates = InboundJob.objects.filter(due(now))
    if mailbox_id is not None:
        candidates = candidates.filter(mailbox_id=mailbox_id)
    ran = 0
    for job_id in candidates.order_by("id").values_list("id", flat=True)[:limit]:
        token = claim(job_id, now)
        if token is not None:
            run_job(job_id, token, now)
            ran += 1
    return ran


def claim(job_id: int, now: datetime) -> str | None:
    """Take the job if it is still due; the claim token, or None when another worker has it."""
    token = uuid.uuid4().hex
    claimed = InboundJob.objects.filter(due(now), pk=job_id).update(
        status=JobStatus.RUNNING,
        claim_token=token,
        lease_expires_at=now + LEASE,
        attempts=F("attempts") + 1,
    )
    return token if claimed == 1 else None


def run_job(job_id: int, token: str, now: datetime) -> None:
    """Run every step of a claimed job, then mark it done, or schedule its retry, or fail it."""
    job = InboundJob.objects.select_related("organization", "mailbox", "message").get(pk=job_id)
    try:
        for step in STEPS:
            outcome = step(job)
            if outcome.skipped:
                job.skips[step.__name__] = outcome.skipped
            _save(job, token, ("skips", *outcome.fields))
    except LostClaim:
        logger.warning("inbound job %s was taken over by another worker", job_id)
        return
    except StepFailed as exc:
        _retry_or_fail(job, token, str(exc), now)
        return
    except Exception as exc:  # noqa: BLE001 - our fault: logged in full, the admin sees the kind
        logger.exception("inbound job %s failed", job_id)
        _retry_or_fail(job, token, f"unexpected error ({type(exc).__name__}); see the worker log", now)
        return
    _update(job.pk, token, status=JobStatus.DONE, last_error="", finished_at=timezone.now())


def backoff(attempts: int) -> timedelta:
    """Delay before attempt `attempts + 1`: 1, 2, 4, 8... minutes, at most an hour."""
    delay: timedelta = FIRST_DELAY * (2 ** max(attempts - 1, 0))
    return min(delay, MAX_DELAY)


def _retry_or_fail(job: InboundJob, token: str, reason: str, now: datetime) -> None:
    attempts = InboundJob.objects.values_list("attempts", flat=True).get(pk=job.pk)
    fields: dict[str, object] = {"last_error": reason[:2000]}
    if job.conversion == Conversion.FAILED:
        fields["conversion"] = Conversion.FAILED
    if attempts >= MAX_ATTEMPTS:
        fields |= {"status": JobStatus.FAILED, "finished_at": now}
        logger.warning("inbound job %s failed after %d attempts: %s", job.pk, attempts, reason)
    else:
        fields |= {"status": JobStatus.PENDING, "next_attempt_at": now + backoff(attempts)}
        logger.info("inbound job %s: attempt %d failed, retrying: %s", job.pk, attempts, reason)
    try:
        _update(job.pk, token, **fields)
    except LostClaim:
        logger.warning("inbound job %s was taken over by another worker", job.pk)


def _save(job: InboundJob, token: str, fields: tuple[str, ...]) -> None:
    values: dict[str, object] = {}
    for name in dict.fromkeys(fields):
        field = InboundJob._meta.get_field(name)
        attname = getattr(field, "attname", name)  # "lead" is saved as lead_id
        values[attname] = getattr(job, attname)
    _update(job.pk, token, **values)


def _update(job_id: int, token: str, **values: object) -> None:
    if not InboundJob.objects.filter(pk=job_id, claim_token=token).update(**values):
        raise LostClaim()


def failing_jobs(mailbox_id: int) -> list[InboundJob]:
    """Jobs of a mailbox that failed for good or are waiting to retry after a failure: for its page."""
    problem = Q(status=JobStatus.FAILED) | Q(status=JobStatus.PENDING, attempts__gt=0)
    return list(
        InboundJob.objects.filter(problem, mailbox_id=mailbox_id)
        .exclude(last_error="")
        .select_related("message")
        .order_by("status", "-id")[:50]  # "failed" before "pending"
    )


def retry_failed(mailbox_id: int, now: datetime | None = None) -> int:
    """Give the mailbox's failed jobs a fresh set of attempts, due now (after an admin fixed the cause);
    returns how many. The last error stays visible until a run succeeds."""
    now = now or timezone.now()
    count = InboundJob.objects.filter(mailbox_id=mailbox_id, status=JobStatus.FAILED).update(
        status=JobStatus.PENDING, attempts=0, next_attempt_at=now, finished_at=None
    )
    if count:
        transaction.on_commit(lambda: _wake([mailbox_id]))
    return count
