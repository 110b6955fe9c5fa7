"""The durable inbound pipeline: one InboundJob per (mailbox, message), created in the sync's batch
transaction and worked through the ordered steps of `postroom.processing.steps`.

A job is never dropped: it is pending until a worker claims it (a conditional UPDATE, see `runner`),
done when every step ran, and failed — with the reason, shown on the mailbox page — only after its
retries with back-off are used up.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.utils import timezone

from postroom.crm.models import Case, Lead
from postroom.mailboxes.models import Mailbox
from postroom.organizations.models import Organization


class JobStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    RUNNING = "running", "Running"
    DONE = "done", "Done"
    FAILED = "failed", "Failed"


class Conversion(models.TextChoices):
    NOT_RUN = "", "Not run yet"
    CREATED = "created", "Created a record"
    JOINED = "joined", "Joined the thread's record"
    SKIPPED = "skipped", "Skipped"
    FAILED = "failed", "Failed"


class InboundJob(models.Model):
    """Processing of one message as it arrived in one mailbox. The folder kind and INTERNALDATE are
    copied from the placement that created the job, because eligibility is decided by where and when
    the message first arrived, and placements come and go with moves."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    # No index of its own: inboundjob_once_per_mailbox and inboundjob_mailbox_status lead with it.
    mailbox = models.ForeignKey(
        Mailbox, on_delete=models.CASCADE, related_name="inbound_jobs", db_index=False
    )
    message = models.ForeignKey("mail.Message", on_delete=models.CASCADE, related_name="inbound_jobs")
    folder_kind = models.CharField(max_length=10)
    internal_date = models.DateTimeField(null=True, blank=True)

    status = models.CharField(max_length=10, choices=JobStatus.choices, default=JobStatus.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claim_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, help_text="Written for an admin; never contains a secret.")

    conversion = models.CharField(max_length=10, choices=Conversion.choices, blank=True, default="")
    lead = models.ForeignKey(Lead, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    case = models.ForeignKey(Case, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    skips: models.JSONField[dict[str, str], Any] = models.JSONField(
        default=dict, blank=True, help_text="step name -> why that step did nothing for this message."
    )

    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "message"], name="inboundjob_once_per_mailbox"),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="inboundjob_due"),
            models.Index(fields=["mailbox", "status"], name="inboundjob_mailbox_status"),
        ]

    def __str__(self) -> str:
        return f"job {self.pk}: message {self.message_id} in mailbox {self.mailbox_id}"
