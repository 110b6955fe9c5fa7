"""The inbound pipeline's runner: claiming, leases, retries with back-off, and failures that are kept and
shown — never dropped."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from django.db import connection, connections
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from postroom.accounts.models import User
from postroom.audit.models import AuditEntry, ObjectType
from postroom.autoresponse.models import AutoReply
from postroom.crm.models import Case, Lead, RecordCounter, RecordKind, ThreadRecord
from postroom.mailboxes.models import Mailbox
from postroom.organizations.models import Membership
from postroom.outbox.models import OutgoingMessage
from postroom.processing import runner
from postroom.processing.models import Conversion, InboundJob, JobStatus
from postroom.processing.runner import (
    LEASE,
    MAX_ATTEMPTS,
    backoff,
    claim,
    failing_jobs,
    run_claimed,
    run_due_jobs,
)
from postroom.processing.steps import STEPS, StepOutcome
from postroom.processing.steps import prepare as steps_prepare
from tests.autoresponse_helpers import make_rule
from tests.conftest import Cast
from tests.mailbuilder import build, reply_to
from tests.processing_helpers import arrive, case_mailbox, job_of, lead_mailbox, process


def test_a_claimed_job_cannot_be_claimed_again_until_its_lease_expires(cast: Cast) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member)
    [message] = arrive(mailbox, [build()])
    job = job_of(mailbox, message)
    now = timezone.now()

    first, [first_job] = claim([job.pk], now)
    assert claim([job.pk], now)[1] == []
    assert claim([job.pk], now + LEASE - timedelta(seconds=1))[1] == []
    second, [second_job] = claim([job.pk], now + LEASE + timedelta(seconds=1))  # the first worker died
    assert second != first

    run_claimed([first_job], first, now)  # the old worker wakes up: it must not write over the new claim
    job.refresh_from_db()
    assert (job.status, job.claim_token, job.attempts) == (JobStatus.RUNNING, second, 2)
    run_claimed([second_job], second, now)
    job.refresh_from_db()
    assert job.status == JobStatus.DONE and Lead.objects.count() == 1


def test_claimed_jobs_share_their_mailbox_and_organization_and_cost_the_same_queries_at_any_count(
    cast: Cast,
) -> None:
    """The claim loads each mailbox and organization once (not joined to every job's row), and every job
    and mailbox of a batch points at those instances."""
    acme_box = case_mailbox(cast.acme, cast.member)
    globex_box = case_mailbox(cast.globex, cast.outsider, label="Globex support")
    arrive(acme_box, [build(), build()])
    arrive(globex_box, [build()])
    arrive(acme_box, [build()], folder="Sales")
    ids = list(InboundJob.objects.order_by("id").values_list("id", flat=True))
    assert len(ids) == 4

    with CaptureQueriesContext(connection) as one:
        claim(ids[:1], timezone.now())
    with CaptureQueriesContext(connection) as three:
        _, jobs = claim(ids[1:], timezone.now())  # two of Acme's (INBOX and Sales), one of Globex's

    assert len(three.captured_queries) == len(one.captured_queries)
    by_mailbox = {job.mailbox_id: job for job in jobs}
    assert len(by_mailbox) == 2 and {job.organization_id for job in jobs} == {cast.acme.pk, cast.globex.pk}
    for job in jobs:
        assert job.mailbox is by_mailbox[job.mailbox_id].mailbox
        assert job.organization is job.mailbox.organization
        assert job.organization.pk == job.mailbox.organization_id == job.message.organization_id
        assert job.message.body.text and job.message.thread.pk == job.message.thread_id

    globex_box.delete()  # between reading the jobs and their owners: the jobs went with the mailbox
    assert {job.mailbox_id for job in runner._with_owners(jobs)} == {acme_box.pk}


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


def test_jobs_are_processed_by_the_queued_task_only_after_the_batch_commits(
    cast: Cast, inline_queue: Any, django_capture_on_commit_callbacks: Any
) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        arrive(mailbox, [build()])
    assert not Lead.objects.exists()  # nothing runs inside the sync's transaction
    for callback in callbacks:
        callback()
    assert Lead.objects.count() == 1
    assert InboundJob.objects.get().status == JobStatus.DONE


def test_the_periodic_sweep_runs_work_whose_wake_up_was_lost(cast: Cast, inline_queue: Any) -> None:
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


def test_a_job_failing_in_a_batch_fails_alone_and_leaves_nothing_behind(
    cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member)
    messages = arrive(mailbox, [build(subject=f"Order {n}") for n in range(5)])
    doomed = messages[2]

    def breaks_on_one_message(job: InboundJob) -> StepOutcome:  # after conversion made its lead
        if job.message_id == doomed.pk:
            raise RuntimeError("boom")
        return StepOutcome()

    monkeypatch.setattr(runner, "STEPS", [*STEPS, breaks_on_one_message])
    now = timezone.now()
    assert run_due_jobs(now=now) == 5  # one batch, one transaction

    failed = job_of(mailbox, doomed)
    assert (failed.status, failed.attempts, failed.conversion, failed.lead) == (
        JobStatus.PENDING,
        1,
        "",
        None,
    )
    assert "RuntimeError" in failed.last_error and failed.next_attempt_at == now + backoff(1)
    assert not Lead.objects.filter(message=doomed).exists()  # its lead was rolled back with the job
    assert sorted(Lead.objects.values_list("number", flat=True)) == [1, 2, 3, 4]  # and its number
    others = InboundJob.objects.exclude(pk=failed.pk)
    assert set(others.values_list("status", flat=True)) == {JobStatus.DONE}

    monkeypatch.setattr(runner, "STEPS", STEPS)  # the cause is fixed: the retry converts it
    assert run_due_jobs(now=failed.next_attempt_at) == 1
    failed.refresh_from_db()
    assert (failed.status, failed.conversion, failed.last_error) == (JobStatus.DONE, Conversion.CREATED, "")
    assert failed.lead is not None and failed.lead.number == 5


def test_a_batch_costs_a_bounded_number_of_queries_per_job(
    cast: Cast, django_assert_max_num_queries: Any
) -> None:
    """Processing waits on database round trips, so their number per job is what keeps it fast: a batch
    of new conversations, each made a case and answered, stays under 30 statements a job (it was 44
    when every job was claimed, loaded and saved on its own)."""
    mailbox = case_mailbox(cast.acme, cast.member)
    make_rule(mailbox)
    count = 20
    arrive(mailbox, [build(sender=f"Customer {n} <customer{n}@example.org>") for n in range(count)])

    with django_assert_max_num_queries(30 * count):
        assert process() == count

    assert Case.objects.count() == AutoReply.objects.count() == count


def test_a_batch_whose_jobs_all_succeed_takes_no_savepoint_per_job(cast: Cast) -> None:
    """On PostgreSQL a savepoint per job cost two round trips and made every row lock a multixact; the
    savepoints are only taken when a job of the batch fails (the test above). Nor does an answer take
    one of its own in this first try."""
    mailbox = case_mailbox(cast.acme, cast.member)
    make_rule(mailbox)
    count = 5
    arrive(mailbox, [build(sender=f"Customer {n} <customer{n}@example.org>") for n in range(count)])

    with CaptureQueriesContext(connection) as queries:
        assert process() == count

    savepoints = [q for q in queries.captured_queries if q["sql"].startswith("SAVEPOINT")]
    assert len(savepoints) <= 1  # the batch's own, when the test itself runs inside a transaction
    assert Case.objects.count() == AutoReply.objects.count() == OutgoingMessage.objects.count() == count
    assert set(InboundJob.objects.values_list("status", flat=True)) == {JobStatus.DONE}


def test_a_failure_discards_the_whole_first_try_including_what_the_jobs_recorded(
    cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first job succeeds in the try without savepoints, the last fails: the try is rolled back and
    every job is as claimed again, in memory too, before the jobs run one by one."""
    mailbox = case_mailbox(cast.acme, cast.member)
    first, last = arrive(mailbox, [build(subject="Fine"), build(subject="Doomed")])
    seen: list[tuple[str, int | None]] = []

    def breaks_on_the_last(job: InboundJob) -> StepOutcome:
        seen.append((job.conversion, job.case_id))
        if job.message_id == last.pk:
            raise RuntimeError("boom")
        return StepOutcome()

    monkeypatch.setattr(runner, "STEPS", [*STEPS, breaks_on_the_last])
    token, jobs = claim([job_of(mailbox, first).pk, job_of(mailbox, last).pk], timezone.now())
    run_claimed(jobs, token, timezone.now())

    # Both tries converted the first message; the second saw no case left over from the first.
    assert [conversion for conversion, _case in seen] == ["created"] * 4
    assert Case.objects.get().number == 1
    fine, doomed = (job_of(mailbox, m) for m in (first, last))
    assert (fine.status, fine.conversion, fine.case) == (
        JobStatus.DONE,
        Conversion.CREATED,
        Case.objects.get(),
    )
    assert (doomed.status, doomed.conversion, doomed.case) == (JobStatus.PENDING, "", None)


@pytest.mark.parametrize("kind", [RecordKind.CASE, RecordKind.LEAD])
def test_a_batch_inserts_the_records_it_creates_together_at_one_cost_for_any_count(
    cast: Cast, kind: str
) -> None:
    """A batch's conversions build their cases or leads in memory and insert them, with their claims and
    the counter, in one statement (`create_together`; three on SQLite): a batch of new conversations
    costs the same statements whatever their number. A reply in the same batch joins its conversation's
    new record, and the numbers follow the jobs' order. Leads too: the audit log, which follows leads,
    records nothing when one is created."""
    make = case_mailbox if kind == RecordKind.CASE else lead_mailbox
    mailbox = make(cast.acme, cast.member)

    def statements_for(count: int, offset: int) -> int:
        firsts = [
            build(subject=f"Order {offset + n}", sender=f"C{offset + n} <c{offset + n}@example.org>")
            for n in range(count)
        ]
        arrive(mailbox, [*firsts, reply_to(firsts[0])])
        with CaptureQueriesContext(connection) as queries:
            assert process() == count + 1
        return len(queries.captured_queries)

    statements_for(1, 200)  # the organization's first batch also creates its counters
    assert statements_for(3, 0) == statements_for(12, 100)

    jobs = InboundJob.objects.filter(mailbox=mailbox).select_related("message", kind).order_by("id")
    records = {job.pk: getattr(job, kind) for job in jobs}
    assert {job.status for job in jobs} == {JobStatus.DONE}
    created = [records[job.pk] for job in jobs if job.conversion == Conversion.CREATED]
    assert [record.number for record in created] == list(range(1, 17))
    for job in jobs:
        record = records[job.pk]
        assert record is not None and record.thread_id == job.message.thread_id
        assert record.record.thread_id == job.message.thread_id
    joined = [records[job.pk] for job in jobs if job.conversion == Conversion.JOINED]
    assert [record.number for record in joined] == [1, 2, 5]
    assert RecordCounter.objects.get(organization=cast.acme, kind=kind).last_number == 16
    assert not AuditEntry.objects.filter(object_type=ObjectType.LEAD).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_a_thread_claimed_elsewhere_while_a_batch_converts_is_joined_when_the_batch_runs_job_by_job(
    cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Another transaction claims one of the batch's threads after the batch read them: inserting the
    batch's cases together finds the claim taken, the first try is rolled back, and the batch runs again
    job by job, where that job joins the other case. No number is lost."""
    if connection.vendor != "postgresql":
        pytest.skip("needs a concurrent writer: runs on the PostgreSQL pass")
    mailbox = case_mailbox(cast.acme, cast.member)
    messages = arrive(
        mailbox, [build(subject=f"Order {n}", sender=f"C{n} <c{n}@example.org>") for n in range(4)]
    )
    taken = messages[1]
    tries: list[int] = []

    def claim_elsewhere() -> None:
        try:
            claim = ThreadRecord.objects.create(
                organization=cast.acme, thread_id=taken.thread_id, kind="case"
            )
            Case.objects.create(
                organization=cast.acme,
                number=99,
                record=claim,
                thread_id=taken.thread_id,
                message=taken,
                subject="Opened by hand",
            )
        finally:
            connections.close_all()  # this thread's connection

    def prepare_then_claim_elsewhere(organization_id: int, jobs: Any) -> None:
        steps_prepare(organization_id, jobs)
        tries.append(len(jobs))
        if len(tries) == 1:
            elsewhere = threading.Thread(target=claim_elsewhere)
            elsewhere.start()
            elsewhere.join(timeout=30)

    monkeypatch.setattr(runner, "prepare", prepare_then_claim_elsewhere)
    assert process() == 4

    assert tries == [4, 4]  # together, then job by job
    job = job_of(mailbox, taken)
    assert (job.status, job.conversion) == (JobStatus.DONE, Conversion.JOINED)
    assert job.case is not None and job.case.number == 99
    numbers = [job_of(mailbox, m).case for m in messages]
    assert [case.number if case else None for case in numbers] == [1, 99, 2, 3]
    assert RecordCounter.objects.get(organization=cast.acme, kind=RecordKind.CASE).last_number == 3


def test_a_claim_made_after_the_batch_read_its_threads_sends_the_batch_job_by_job(
    cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Inserting the batch's records together checks that it made every claim it meant to: one taken
    after the batch read the threads (here by the batch's own transaction, which SQLite's lock leaves as
    the only writer) fails the first try, which is rolled back whole, and the batch runs again job by
    job. No number is lost or given twice."""
    mailbox = case_mailbox(cast.acme, cast.member)
    messages = arrive(
        mailbox, [build(subject=f"Order {n}", sender=f"C{n} <c{n}@example.org>") for n in range(4)]
    )
    tries: list[int] = []

    def prepare_then_claim(organization_id: int, jobs: Any) -> None:
        steps_prepare(organization_id, jobs)
        tries.append(len(jobs))
        if len(tries) == 1:  # rolled back with the first try
            ThreadRecord.objects.create(organization=cast.acme, thread_id=messages[1].thread_id, kind="case")

    monkeypatch.setattr(runner, "prepare", prepare_then_claim)
    assert process() == 4

    assert tries == [4, 4]  # together, then job by job
    jobs = [job_of(mailbox, m) for m in messages]
    assert [(job.status, job.conversion) for job in jobs] == [(JobStatus.DONE, Conversion.CREATED)] * 4
    assert [job.case.number if job.case else None for job in jobs] == [1, 2, 3, 4]
    assert ThreadRecord.objects.filter(organization=cast.acme).count() == 4
    assert RecordCounter.objects.get(organization=cast.acme, kind=RecordKind.CASE).last_number == 4


def test_an_answer_made_after_the_batch_read_its_answers_is_refused_alone_when_run_job_by_job(
    cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first try's answers take no savepoint: one that meets an answer of the same (rule, message)
    made meanwhile (here by the batch's own transaction, on every try) fails the whole try. Job by job,
    that answer is refused alone, with nothing queued for it, and the others go out."""
    mailbox = case_mailbox(cast.acme, cast.member)
    rule = make_rule(mailbox)
    messages = arrive(mailbox, [build(sender=f"C{n} <c{n}@example.org>") for n in range(3)])
    tries: list[int] = []

    def prepare_then_answer(organization_id: int, jobs: Any) -> None:
        steps_prepare(organization_id, jobs)
        tries.append(len(jobs))
        AutoReply.objects.create(
            organization=cast.acme, mailbox=mailbox, rule=rule, message=messages[1], sender="c1@example.org"
        )

    monkeypatch.setattr(runner, "prepare", prepare_then_answer)
    assert process() == 3

    assert tries == [3, 3]  # together, then job by job
    assert [job_of(mailbox, m).status for m in messages] == [JobStatus.DONE] * 3
    assert AutoReply.objects.filter(outgoing__isnull=False).count() == 2
    assert not AutoReply.objects.filter(message=messages[1], outgoing__isnull=False).exists()
    assert OutgoingMessage.objects.count() == 2
