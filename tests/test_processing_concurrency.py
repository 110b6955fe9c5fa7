"""Two workers processing the same jobs at the same moment (PostgreSQL: real concurrent transactions on
separate connections). SQLite serialises writers, so these run on the PostgreSQL pass only."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator

import pytest
from django.db import connection, connections

from postroom.crm.models import Case, Lead, ThreadRecord
from postroom.processing.models import InboundJob, JobStatus
from postroom.processing.runner import run_due_jobs
from tests.conftest import Cast
from tests.mailbuilder import build, reply_to
from tests.processing_helpers import arrive, case_mailbox, lead_mailbox

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
CONVERSATIONS = 25


@pytest.fixture(autouse=True)
def _postgresql_only() -> Iterator[None]:
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers: runs on the PostgreSQL pass")
    yield


def run_together(*work: Callable[[], int]) -> list[int]:
    """Run each callable in its own thread (own connection), released together by one barrier."""
    barrier = threading.Barrier(len(work))
    results: list[int] = [0] * len(work)
    errors: list[BaseException] = []

    def worker(index: int) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = work[index]()
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(len(work))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    if errors:
        raise errors[0]
    return results


def test_two_workers_on_the_same_jobs_make_one_record_per_thread_with_unique_numbers(cast: Cast) -> None:
    sales = lead_mailbox(cast.acme, cast.member)
    info = lead_mailbox(cast.acme, cast.member, label="Info")
    firsts = [build(subject=f"Conversation {n}") for n in range(CONVERSATIONS)]
    # Each conversation reaches two mailboxes and has a reply: three jobs racing for one thread.
    arrive(sales, firsts)
    arrive(info, firsts)
    arrive(sales, [reply_to(raw) for raw in firsts])

    ran = run_together(run_due_jobs, run_due_jobs, run_due_jobs)

    assert sum(ran) == InboundJob.objects.count() == 3 * CONVERSATIONS  # every job ran exactly once
    assert set(InboundJob.objects.values_list("status", flat=True)) == {JobStatus.DONE}
    assert Lead.objects.count() == ThreadRecord.objects.count() == CONVERSATIONS
    numbers = sorted(Lead.objects.values_list("number", flat=True))
    assert numbers == list(range(1, CONVERSATIONS + 1))
    threads = Lead.objects.values_list("thread_id", flat=True)
    assert len(set(threads)) == CONVERSATIONS
    for job in InboundJob.objects.select_related("message"):
        assert job.lead is not None and job.lead.thread_id == job.message.thread_id


def test_a_lead_mailbox_and_a_case_mailbox_racing_for_one_thread_make_one_record(cast: Cast) -> None:
    sales = lead_mailbox(cast.acme, cast.member)
    support = case_mailbox(cast.acme, cast.member)
    firsts = [build(subject=f"Both mailboxes {n}") for n in range(CONVERSATIONS)]
    arrive(sales, firsts)
    arrive(support, firsts)

    run_together(
        lambda: run_due_jobs(mailbox_id=sales.pk),
        lambda: run_due_jobs(mailbox_id=support.pk),
    )

    assert Lead.objects.count() + Case.objects.count() == CONVERSATIONS
    assert ThreadRecord.objects.count() == CONVERSATIONS
    assert set(InboundJob.objects.values_list("status", flat=True)) == {JobStatus.DONE}
