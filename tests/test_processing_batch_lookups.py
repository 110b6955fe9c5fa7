"""The processing runner answers conversion and auto-response questions for a whole batch at once
(`steps.prepare`, `crm.conversion.ThreadBook`). Run job by job without that preloading, the same mail must
get exactly the same outcomes: this test runs one scenario that reaches every rule both ways and
compares them."""

from __future__ import annotations

from typing import Any

import pytest

from postroom.accounts.models import User
from postroom.crm.models import Case
from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.organizations.models import Organization
from postroom.processing import runner
from postroom.processing.models import InboundJob
from tests.conftest import Cast
from tests.mailbuilder import build, reply_to
from tests.processing_helpers import BEFORE, arrive, case_mailbox, process


def scenario(org: Organization, owner: User) -> Mailbox:
    """Mail of one organization, arriving in three sync batches, that meets every conversion rule: new
    threads, replies in the same and in a later batch, a conversation the organization started, one that
    began before processing was enabled, mail in Sent, mail from the organization's own address, and a
    thread merge whose absorbed thread had a record."""
    mailbox = case_mailbox(org, owner)
    own = f"Us <{mailbox.email}>"

    def mid(name: str) -> str:
        return f"<{name}.{org.slug}@example.org>"

    first = build(subject="New topic", message_id=mid("first"))
    ours = build(subject="We wrote first", sender=own, message_id=mid("ours"))
    old = build(subject="Old topic", message_id=mid("old"))
    sent = build(subject="In Sent", sender=own, message_id=mid("sent"))
    lonely = build(subject="Second topic", sender="Zed <zed@example.org>", message_id=mid("lonely"))
    arrive(mailbox, [old], when=BEFORE)
    arrive(mailbox, [sent], folder="Sent", kind="sent")
    arrive(
        mailbox,
        [first, reply_to(first, message_id=mid("r1")), ours, reply_to(ours, message_id=mid("r2")), lonely],
    )
    arrive(mailbox, [reply_to(old, message_id=mid("r3")), build(subject="From us", sender=own)])
    arrive(mailbox, [reply_to(first, message_id=mid("r4"))])
    assert process() == 10
    # Merges the threads of `first` and `lonely`, which have a case each by now, and of `ours`.
    both = build(
        subject="Both", message_id=mid("both"), references=[mid("first"), mid("lonely"), mid("ours")]
    )
    arrive(mailbox, [both, reply_to(lonely, message_id=mid("r5"))])
    assert process() == 2
    return mailbox


def outcomes(mailbox: Mailbox) -> list[tuple[Any, ...]]:
    """Per message (in arrival order): conversion, skip reasons (the organization's own address made
    alike), and the number of the record it got."""
    jobs = InboundJob.objects.filter(mailbox=mailbox).select_related("case", "message").order_by("message_id")
    return [
        (
            job.message.subject,
            job.status,
            job.conversion,
            {step: reason.replace(mailbox.email, "OWN") for step, reason in job.skips.items()},
            job.case.number if job.case else None,
        )
        for job in jobs
    ]


def test_batch_lookups_give_the_same_outcomes_as_asking_job_by_job(
    cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    batched = scenario(cast.acme, cast.member)
    monkeypatch.setattr(runner, "prepare", lambda organization_id, jobs: None)
    one_by_one = scenario(cast.globex, cast.outsider)

    assert outcomes(batched) == outcomes(one_by_one)
    got = outcomes(batched)
    conversions = [conversion for _, _, conversion, _, _ in got]
    assert conversions.count("created") == 2  # "New topic" and "Second topic"
    assert {"created", "joined", "skipped"} == set(conversions)
    reasons = {skip for _, _, _, skips, _ in got for skip in skips.values()}
    assert "the conversation was started by the organization" in reasons
    assert "the conversation began before processing was enabled" in reasons
    assert "sent by one of the organization's own mailboxes" in reasons
    assert Case.objects.filter(organization=cast.acme).count() == 2
    assert got[-1][0] == "Re: Second topic" and got[-1][-1] == 1  # joined the merged thread's case


def test_a_failing_job_makes_the_rest_of_the_batch_ask_again(
    cast: Cast, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A job whose writes are rolled back must not leave the batch believing in the record it created."""
    from postroom.autoresponse.step import autoresponse
    from postroom.processing import steps

    mailbox = case_mailbox(cast.acme, cast.member)
    first = build(subject="Topic")
    arrive(mailbox, [first, reply_to(first)])

    def failing_once(job: InboundJob) -> steps.StepOutcome:
        if job.message.subject == "Topic":  # after its conversion created the case
            raise steps.StepFailed("boom")
        return autoresponse(job)

    monkeypatch.setattr(steps, "STEPS", [steps.conversion, failing_once])
    monkeypatch.setattr(runner, "STEPS", steps.STEPS)
    process()

    # The first job's case was rolled back with it; the reply, run after it in the same batch, created
    # the thread's case itself instead of joining one that does not exist.
    [case] = Case.objects.filter(mailbox=mailbox)
    reply_job = InboundJob.objects.get(mailbox=mailbox, message__subject="Re: Topic")
    assert (reply_job.conversion, reply_job.case) == ("created", case)
    assert Message.objects.get(pk=case.message_id).subject == "Re: Topic"
