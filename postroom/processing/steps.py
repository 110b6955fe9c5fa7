"""The ordered steps every inbound message goes through, after it was stored and committed.

Contract of a step: `step(job) -> StepOutcome`.
- It is idempotent: a job is retried from its first step after any failure, so a step that already did
  its work (see the job's fields) must recognise that and not do it twice.
- It records its results on the job's attributes and names them in `StepOutcome.fields`; the runner saves
  exactly those (only while this worker still holds the job's claim).
- It returns `StepOutcome(skipped=reason)` when it deliberately did nothing; the runner stores the reason
  in `job.skips[<step's __name__>]`, visible on the message, for the steps that come later too.
- It raises `StepFailed(reason)` for a failure an admin can act on (the reason is shown on the mailbox
  page, so never put a secret in it); any other exception counts as "our fault" and is logged. Either way
  the job is retried with back-off, and marked failed after its last attempt.

Order matters: conversion runs first because later steps (auto-responses) may quote the lead or case
number it created (`job.lead`, `job.case`). The runner runs it for a whole batch before the later steps,
so that the batch's new records are inserted together (`records_saved` then gives the jobs their keys).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from django.db.models import ForeignKey

from postroom.autoresponse import step as autoresponse_step
from postroom.autoresponse.step import autoresponse
from postroom.crm import conversion as crm_conversion
from postroom.crm.conversion import Arrival, ConversionFailed, convert
from postroom.crm.models import Case, Lead
from postroom.mailboxes.models import ProcessType
from postroom.processing.models import Conversion, InboundJob


@dataclass(frozen=True)
class StepOutcome:
    skipped: str = ""  # why the step did nothing ("" when it acted)
    fields: tuple[str, ...] = ()  # job attributes the step changed, for the runner to save


class StepFailed(Exception):
    """A step failed for a reason an admin can act on; the text is shown on the mailbox page."""


Step = Callable[[InboundJob], StepOutcome]

CONVERSION_FIELDS = ("conversion", "lead", "case")


def conversion(job: InboundJob) -> StepOutcome:
    """Convert To Lead / Convert To Case (postroom.crm.conversion): create, join, or skip with a reason."""
    if job.conversion in (Conversion.CREATED, Conversion.JOINED):
        return StepOutcome()
    arrival = Arrival(job.mailbox, job.message, job.folder_kind, job.internal_date)
    try:
        result = convert(arrival)
    except ConversionFailed as exc:
        job.conversion = Conversion.FAILED
        raise StepFailed(f"conversion keeps failing: {exc}") from exc
    job.conversion = result.outcome
    job.lead = result.record if isinstance(result.record, Lead) else None
    job.case = result.record if isinstance(result.record, Case) else None
    return StepOutcome(skipped=result.reason, fields=CONVERSION_FIELDS)


def records_saved(job: InboundJob) -> None:
    """Point the job at its lead or case by key again, after the conversions of its batch inserted the
    records they created together (`postroom.crm.conversion.create_together`): a record the job was
    given before that had no key yet."""
    for name in CONVERSION_FIELDS[1:]:
        relation = InboundJob._meta.get_field(name)
        assert isinstance(relation, ForeignKey)
        record = relation.get_cached_value(job, default=None)  # never a query: only what the step gave
        if record is not None:
            setattr(job, name, record)  # sets lead_id or case_id from the record's key


STEPS: list[Step] = [conversion, autoresponse]


def prepare(organization_id: int, jobs: Sequence[InboundJob]) -> None:
    """Let the steps load, for a whole batch of one organization's jobs, what they would otherwise ask
    job by job (see `batchcache`); called inside the batch's transaction, before the first job."""
    converting = [
        job.message
        for job in jobs
        if job.conversion not in (Conversion.CREATED, Conversion.JOINED)
        and job.mailbox.process_type in (ProcessType.LEAD, ProcessType.CASE)
    ]
    if converting:
        crm_conversion.prepare(organization_id, converting)
    autoresponse_step.prepare(organization_id, jobs)
