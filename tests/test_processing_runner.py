"""The inbound pipeline's runner: claiming, leases, retries with back-off, and failures that are kept and
shown — never dropped."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from postroom.accounts.models import User
from postroom.crm.models import Lead
from postroom.mailboxes.models import Mailbox
from postroom.organizations.models import Membership
from postroom.processing.models import Conversion, InboundJob, JobStatus
from postroom.processing.runner import (
    LEASE,
    MAX_ATTEMPTS,
    backoff,
    claim,
    failing_jobs,
    run_due_jobs,
    run_job,
)
from tests.conftest import Cast
from tests.mailbuilder import build
from tests.processing_helpers import arrive, case_mailbox, job_of, lead_mailbox, process


def test_a_claimed_job_cannot_be_claimed_again_until_its_lease_expires(cast: Cast) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member)
    [message] = arrive(mailbox, [build()])
    job = job_of(mailbox, message)
    now = timezone.now()

    first = claim(job.pk, now)
    assert first is not None
    assert claim(job.pk, now) is None
    assert claim(job.pk, now + LEASE - timedelta(seconds=1)) is None
    second = claim(job.pk, now + LEASE + timedelta(seconds=1))  # the first worker died mid-job
    assert second is not None and second != first

    run_job(job.pk, first, now)  # the old worker wakes up: it must not write over the new owner's claim
    job.refresh_from_db()
    assert (job.status, job.claim_token, job.attempts) == (JobStatus.RUNNING, second, 2)
    run_job(job.pk, second, now)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and Lead.objects.count() == 1


def test_conversion_with_a_deactivated_owner_is_retried_with_backoff_then_failed_with_reason(
    cast: Cast,
) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member)
    [message] = arrive(mailbox, [build()])
    User.objects.filter(pk=cast.member.pk).update(is_active=False)
    now = timezone.now()

    assert run_due_jobs(now=now) == 1
    job = job_of(mailbox, message)
    assert (job.status, job.attempts, job.conversion) == (JobStatus.PENDING, 1, Conversion.FAILED)
    assert job.next_attempt_at == now + backoff(1)
    assert "owner" in job.last_error and "deactivated" in job.last_error
    assert run_due_jobs(now=now) == 0  # not due before its back-off has passed

    for _ in range(MAX_ATTEMPTS - 1):
        now = job.next_attempt_at
        assert run_due_jobs(now=now) == 1
        job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.FAILED, MAX_ATTEMPTS)
    assert job.last_error.startswith("conversion keeps failing: the owner")
    assert run_due_jobs(now=now + timedelta(days=1)) == 0
    assert failing_jobs(mailbox.pk) == [job]
    assert not Lead.objects.exists()


def test_backoff_doubles_up_to_an_hour() -> None:
    assert [backoff(n).total_seconds() / 60 for n in (1, 2, 3, 4)] == [1, 2, 4, 8]
    assert backoff(20) == timedelta(hours=1)


def test_a_failing_conversion_succeeds_once_the_admin_fixes_the_setting(cast: Cast) -> None:
    mailbox = case_mailbox(cast.acme, cast.member, case_assignee=cast.loner)
    [message] = arrive(mailbox, [build()])
    Membership.objects.filter(user=cast.loner, organization=cast.acme).delete()  # the assignee left
    now = timezone.now()
    run_due_jobs(now=now)
    job = job_of(mailbox, message)
    assert "assignee" in job.last_error and job.status == JobStatus.PENDING
    assert failing_jobs(mailbox.pk) == [job]

    mailbox.case_assignee = None
    mailbox.save()
    run_due_jobs(now=job.next_attempt_at)
    job.refresh_from_db()
    assert (job.status, job.conversion, job.last_error) == (JobStatus.DONE, Conversion.CREATED, "")
    assert job.case is not None and job.case.assignee is None
    assert failing_jobs(mailbox.pk) == []


def test_missing_owner_fails_with_a_reason_an_admin_can_act_on(cast: Cast) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member)
    Mailbox.objects.filter(pk=mailbox.pk).update(owner=None)
    arrive(mailbox, [build()])
    process()
    assert "no owner is chosen" in InboundJob.objects.get().last_error


def test_jobs_run_oldest_first_and_each_only_once(cast: Cast) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member)
    arrive(mailbox, [build(), build(), build()])
    assert process() == 3
    assert process() == 0
    assert sorted(Lead.objects.values_list("number", flat=True)) == [1, 2, 3]
    by_job = list(InboundJob.objects.order_by("id").values_list("lead__number", flat=True))
    assert by_job == [1, 2, 3]


@pytest.fixture
def tasks_run_inline() -> Iterator[None]:
    """Huey's immediate mode: a queued task runs where it is enqueued (in memory, no consumer)."""
    from huey.contrib.djhuey import HUEY

    HUEY.immediate = True
    yield
    HUEY.immediate = False


def test_jobs_are_processed_by_the_queued_task_only_after_the_batch_commits(
    cast: Cast, tasks_run_inline: None, django_capture_on_commit_callbacks: Any
) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        arrive(mailbox, [build()])
    assert not Lead.objects.exists()  # nothing runs inside the sync's transaction
    for callback in callbacks:
        callback()
    assert Lead.objects.count() == 1
    assert InboundJob.objects.get().status == JobStatus.DONE


def test_the_periodic_sweep_runs_work_whose_wake_up_was_lost(cast: Cast, tasks_run_inline: None) -> None:
    from postroom.processing.tasks import sweep_inbound_jobs

    mailbox = lead_mailbox(cast.acme, cast.member)
    arrive(mailbox, [build(), build()])  # in a test transaction: on_commit never fires, no task queued
    assert not Lead.objects.exists()
    sweep_inbound_jobs()
    assert Lead.objects.count() == 2


def test_deleting_a_mailbox_keeps_its_leads(cast: Cast) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member)
    arrive(mailbox, [build()])
    process()
    mailbox.delete()
    lead = Lead.objects.get()
    assert lead.mailbox is None and lead.message is not None
