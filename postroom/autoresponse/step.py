"""The auto-response step of the inbound pipeline (`postroom.processing.steps.STEPS`, after conversion,
so a reply can quote the lead or case number)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from postroom.autoresponse.models import AutoReply
from postroom.autoresponse.respond import REPLIED, respond_to

if TYPE_CHECKING:
    from postroom.processing.models import InboundJob
    from postroom.processing.steps import StepOutcome


def autoresponse(job: InboundJob) -> StepOutcome:
    """Answer the job's message by the mailbox's rules. Idempotent: once a rule answered the message in
    this mailbox, a retried job does nothing. A skip or a template that failed to render is reported as
    the step's skip reason (retrying would not change it); the reply itself is the outbox's business."""
    from postroom.processing.steps import StepOutcome  # the pipeline imports this module

    if AutoReply.objects.filter(mailbox_id=job.mailbox_id, message_id=job.message_id).exists():
        return StepOutcome()
    outcome = respond_to(job.message, job.mailbox, job.folder_kind, job.internal_date, job.lead or job.case)
    return StepOutcome(skipped="" if outcome.status == REPLIED else outcome.reason)
