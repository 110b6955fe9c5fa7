"""Running inbound jobs: create them with the sync's batch, claim them in batches, run the steps,
retry with back-off, and never lose one.

- Jobs are created by `postroom.processing.intake.record_new_placements`, inside the sync's batch
  transaction, so a job exists exactly when its message and placement committed; the worker is woken
  only after that commit (`on_commit`).
- A periodic sweep (`tasks.sweep_inbound_jobs`) runs whatever is due, so a lost wake-up delays a job by
  at most a minute and never drops it.
- Claiming is one conditional UPDATE over a batch of due jobs (pending and due, or running with an
  expired lease -> running, with a fresh claim token): two workers never run one job at once, and a
  worker killed mid-batch leaves a lease that expires. Results are saved only under the claim token, so
  a worker whose lease was taken over cannot overwrite the new owner's work.
- A batch runs in one transaction per organization (commits, not CPU, are what processing waits on).
  It first runs with no savepoint per job, step by step across the batch, and on PostgreSQL inserts the
  leads and cases its conversions create together (`create_together`); if a job fails, or another transaction
  claimed one of its threads meanwhile, that try is rolled back and the batch runs again job by job,
  each in its own savepoint: a failing job's effects are rolled back and it alone is retried. The
  transaction first takes the organization's numbering lock (`serialise_conversions`), so two workers'
  batches of one organization run one after the other instead of deadlocking on each other's thread
  claims and reply slots.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from postroom.crm.conversion import create_together, serialise_conversions
from postroom.logs import log_context
from postroom.mailboxes.models import Mailbox
from postroom.messages import bulk
from postroom.operations import liveness
from postroom.processing import batchcache
from postroom.processing.intake import wake
from postroom.processing.models import Conversion, InboundJob, JobStatus
from postroom.processing.steps import STEPS, Step, StepFailed, prepare, records_saved

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)
MAX_ATTEMPTS = 6
FIRST_DELAY = timedelta(minutes=1)
MAX_DELAY = timedelta(hours=1)
SWEEP_LIMIT = 500
BATCH_SIZE = 100  # jobs per claim and transaction: a few round trips each instead of a few per job
RESULT_ATTRIBUTES = (  # what running a job changes on it
    "status",
    "last_error",
    "finished_at",
    "next_attempt_at",
    "conversion",
    "lead_id",
    "case_id",
    "skips",
)


def due(now: datetime) -> Q:
    """Jobs a worker may claim at `now`."""
    return Q(status=JobStatus.PENDING, next_attempt_at__lte=now) | Q(
        status=JobStatus.RUNNING, lease_expires_at__lt=now
    )


def run_due_jobs(mailbox_id: int | None = None, now: datetime | None = None, limit: int = SWEEP_LIMIT) -> int:
    """Run the due jobs (of one mailbox, or all), oldest first, a batch at a time; returns how many this
    worker ran."""
    now = now or timezone.now()
    ran = 0
    while ran < limit:
        candidates = InboundJob.objects.filter(due(now))
        if mailbox_id is not None:
            candidates = candidates.filter(mailbox_id=mailbox_id)
        ids = list(candidates.order_by("id").values_list("id", flat=True)[: min(BATCH_SIZE, limit - ran)])
        if not ids:
            break
        token, jobs = claim(ids, now)
        run_claimed(jobs, token, now)
        ran += len(jobs)
    return ran


def claim(job_ids: Sequence[int], now: datetime) -> tuple[str, list[InboundJob]]:
    """Take those of the jobs that are still due, with one claim token (one conditional UPDATE; another
    worker's claim on a job wins). Returns the token and the claimed jobs, loaded with what every step
    reads, oldest first."""
    token = liveness.claim_token()  # names this process, so a sweep can free it if we die
    InboundJob.objects.filter(due(now), pk__in=job_ids).update(
        status=JobStatus.RUNNING,
        claim_token=token,
        lease_expires_at=now + LEASE,
        attempts=F("attempts") + 1,
    )
    claimed = InboundJob.objects.filter(pk__in=job_ids, claim_token=token).select_related(
        "message__thread", "message__body"
    )
    return token, _with_owners(list(claimed.order_by("id")))


def _with_owners(jobs: list[InboundJob]) -> list[InboundJob]:
    """The jobs, each given the one instance of its mailbox and of that mailbox's organization (a job's
    own). A batch names a few mailboxes: joining them to every job's row built three more model
    instances per job, all copies (about 5% of processing's CPU in bench.processing), where this is one
    query a batch. A job whose mailbox was deleted since it was read is left out: the deletion cascaded
    to the job."""
    mailboxes = Mailbox.objects.select_related("organization").in_bulk({job.mailbox_id for job in jobs})
    kept = [job for job in jobs if job.mailbox_id in mailboxes]
    for job in kept:
        job.mailbox = mailboxes[job.mailbox_id]
        job.organization = job.mailbox.organization
    return kept


def run_claimed(jobs: Sequence[InboundJob], token: str, now: datetime) -> None:
    """Run every step of each claimed job, then save each as done, or scheduled for a retry, or failed.
    One transaction per organization's jobs; a failing job fails alone.

    A group first runs with no savepoint per job. A savepoint is two statements (SAVEPOINT, RELEASE), and
    processing waits on statements: without them a conversion takes 2.4 statements instead of 5.8, and
    1.5 ms instead of 2.1-2.5 on PostgreSQL (bench.processing --no-rule). If a job fails, that try is
    rolled back whole, the jobs are put back as claimed (in memory too), and the group runs again with a
    savepoint per job, which isolates the failure. Failures are rare and come in runs (a mailbox's owner
    left), so paying twice then is cheap. The first try also inserts the records its conversions create
    in one statement per kind (`_run_together`): 0.2 statements a job instead of 0.9 for a batch of new
    cases, and 1,190-1,290 jobs/s became 1,480-1,770 (bench.processing --no-rule, PostgreSQL)."""
    by_organization: dict[int, list[InboundJob]] = {}
    for job in jobs:
        by_organization.setdefault(job.organization_id, []).append(job)
    for organization_id, group in sorted(by_organization.items()):
        claimed = [_results(job) for job in group]
        try:
            _run_group(organization_id, group, token, now, together=True)
        except Exception:  # noqa: BLE001 - any failure: the run with savepoints meets it again and reports it
            for job, results in zip(group, claimed, strict=True):
                _restore(job, results)
            _run_group(organization_id, group, token, now, together=False)


def _run_group(
    organization_id: int, group: Sequence[InboundJob], token: str, now: datetime, *, together: bool
) -> None:
    with transaction.atomic(), batchcache.batch():
        numbers = serialise_conversions(organization_id)
        prepare(organization_id, group)  # under the lock: nobody else converts this organization's mail
        if together:
            with batchcache.undivided():
                _run_together(numbers, group)
        else:
            _run_each(group, now)
        _save(group, token)


def _run_together(numbers: dict[str, int], group: Sequence[InboundJob]) -> None:
    """Every job's steps with no savepoint, step by step across the group: first every conversion, whose
    new records are inserted together when they are all decided (`create_together`), then the later
    steps, which may quote those records' numbers and links."""
    first, *later = STEPS
    with create_together(group[0].organization_id, numbers):
        for job in group:
            with _job_context(job):
                _step(job, first)
    for job in group:
        records_saved(job)
        with _job_context(job):
            for step in later:
                _step(job, step)
        _done(job)


def _run_each(group: Sequence[InboundJob], now: datetime) -> None:
    """Every job's steps, each job in its own savepoint, so that a failing job fails alone."""
    for job in group:
        with _job_context(job):
            _run_steps(job, now)


def _job_context(job: InboundJob) -> AbstractContextManager[None]:
    """The job's organization and mailbox on every log line written while it runs."""
    return log_context(organization=job.organization.slug, mailbox=job.mailbox_id)


def _run_steps(job: InboundJob, now: datetime) -> None:
    before = _results(job)
    try:
        with transaction.atomic():  # a savepoint: a failing job leaves nothing behind
            _steps(job)
    except StepFailed as exc:
        batchcache.forget()  # the job's writes were rolled back: what the batch loaded may be stale
        _retry_or_fail(job, before, str(exc), now)
    except Exception as exc:  # noqa: BLE001 - our fault: logged in full, the admin sees the kind
        batchcache.forget()
        logger.exception("inbound job %s failed", job.pk)
        _retry_or_fail(job, before, f"unexpected error ({type(exc).__name__}); see the worker log", now)
    else:
        _done(job)


def _steps(job: InboundJob) -> None:
    for step in STEPS:
        _step(job, step)


def _step(job: InboundJob, step: Step) -> None:
    outcome = step(job)
    if outcome.skipped:
        job.skips[step.__name__] = outcome.skipped


def _done(job: InboundJob) -> None:
    job.status, job.last_error, job.finished_at = JobStatus.DONE, "", timezone.now()


def _results(job: InboundJob) -> dict[str, object]:
    """What running the job may change on it (RESULT_ATTRIBUTES), as it is now."""
    results = {name: getattr(job, name) for name in RESULT_ATTRIBUTES}
    results["skips"] = dict(job.skips)
    return results


def _restore(job: InboundJob, results: dict[str, object]) -> None:
    for name, value in results.items():
        setattr(job, name, value)  # lead_id, case_id: Django drops the related object they replace


def backoff(attempts: int) -> timedelta:
    """Delay before attempt `attempts + 1`: 1, 2, 4, 8... minutes, at most an hour."""
    delay: timedelta = FIRST_DELAY * (2 ** max(attempts - 1, 0))
    return min(delay, MAX_DELAY)


def _retry_or_fail(job: InboundJob, before: dict[str, object], reason: str, now: datetime) -> None:
    """Undo in memory what the rolled-back steps recorded on the job (keeping a failed conversion, shown
    on the mailbox page), then schedule the next attempt or, after the last, fail the job."""
    failed_conversion = job.conversion == Conversion.FAILED
    _restore(job, before)
    if failed_conversion:
        job.conversion = Conversion.FAILED
    job.last_error = reason[:2000]
    if job.attempts >= MAX_ATTEMPTS:
        job.status, job.finished_at = JobStatus.FAILED, now
        logger.warning("inbound job %s failed after %d attempts: %s", job.pk, job.attempts, reason)
    else:
        job.status, job.next_attempt_at = JobStatus.PENDING, now + backoff(job.attempts)
        logger.info("inbound job %s: attempt %d failed, retrying: %s", job.pk, job.attempts, reason)


def _save(jobs: Sequence[InboundJob], token: str) -> None:
    """Write the jobs' results in one round trip, only where the claim is still ours: a job whose lease
    expired and was taken over by another worker is left to its new owner."""
    rows = [(job.pk, *(getattr(job, name) for name in RESULT_ATTRIBUTES)) for job in jobs]
    saved = bulk.update(InboundJob, RESULT_ATTRIBUTES, rows, where={"claim_token": token})
    if saved < len(jobs):
        logger.warning("%d inbound jobs were taken over by another worker", len(jobs) - saved)


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
        transaction.on_commit(lambda: wake([mailbox_id]))
    return count
