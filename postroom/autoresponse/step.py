"""The auto-response step of the inbound pipeline (`postroom.processing.steps.STEPS`, after conversion,
so a reply can quote the lead or case number)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

from postroom.autoresponse import eligibility
from postroom.autoresponse.models import AutoReply
from postroom.autoresponse.respond import REPLIED, answered_in_mailbox, remember_answered, respond_to

if TYPE_CHECKING:
    from postroom.processing.models import InboundJob
    from postroom.processing.steps import StepOutcome


def autoresponse(job: InboundJob) -> StepOutcome:
    """Answer the job's message by the mailbox's rules. Idempotent: once a rule answered the message in
    this mailbox, a retried job does nothing. A skip or a template that failed to render is reported as
    the step's skip reason (retrying would not change it); the reply itself is the outbox's business."""
    from postroom.processing.steps import StepOutcome  # the pipeline imports this module

    if answered_in_mailbox(job.mailbox_id, job.message_id):
        return StepOutcome()
    outcome = respond_to(job.message, job.mailbox, job.folder_kind, job.internal_date, job.lead or job.case)
    return StepOutcome(skipped="" if outcome.status == REPLIED else outcome.reason)


def prepare(organization_id: int, jobs: Sequence[InboundJob]) -> None:
    """Load, for a processing batch, which of its messages were answered already (a retried job) and
    which Postroom sent itself: one query each instead of one per job."""
    answered = AutoReply.objects.filter(
        mailbox_id__in={job.mailbox_id for job in jobs}, message_id__in=[job.message_id for job in jobs]
    )
    remember_answered(set(answered.values_list("mailbox_id", "message_id")))
    eligibility.prepare(organization_id, [job.message for job in jobs])
