"""The outbox: every message Postroom sends is a row first, then handed to the mailbox's SMTP server by a
worker (see `postroom.outbox.send`). The row keeps the exact bytes, so a retry sends the same message with
the same Message-ID, and the outcome of every attempt (`last_error`, `sent_at`) stays visible."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.utils import timezone

from postroom.mailboxes.models import Mailbox
from postroom.organizations.models import Organization


class Kind(models.TextChoices):
    AUTO_REPLY = "auto_reply", "Automatic reply"
    REPLY = "reply", "Reply"
    COMPOSE = "compose", "New message"
    FORWARD = "forward", "Forward"


class Status(models.TextChoices):
    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


# Failed for good, or waiting to retry after a failed attempt.
FAILING = models.Q(status=Status.FAILED) | models.Q(status=Status.QUEUED, attempts__gt=0)


class OutgoingMessage(models.Model):
    """One message to send from `mailbox`. `raw` is the complete RFC 5322 message built at enqueue time;
    `message_id` is its Message-ID (normalised like `Message.message_id`: no brackets, lower case), so our
    own mail is recognised when it comes back and receivers can drop a duplicate delivery."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="outgoing")
    kind = models.CharField(max_length=12, choices=Kind.choices)
    envelope_from = models.CharField(max_length=320)
    recipients: models.JSONField[list[str], Any] = models.JSONField(default=list)
    subject = models.TextField(blank=True)
    message_id = models.CharField(max_length=255)
    raw = models.BinaryField()

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claim_token = models.CharField(max_length=32, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, help_text="The server's answer; never contains a secret.")
    sent_at = models.DateTimeField(null=True, blank=True)

    in_reply_to = models.ForeignKey(
        "mail.Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    thread = models.ForeignKey(
        "mail.Thread", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    stored_message = models.ForeignKey(
        "mail.Message",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The sent message as stored in the thread (set once it is stored).",
    )
    appended_to_sent = models.BooleanField(default=False)
    idempotency_key = models.CharField(
        max_length=64, blank=True, help_text="The compose form's token: a double submit sends once."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="outgoing_due"),
            models.Index(fields=["organization", "message_id"], name="outgoing_message_id"),
            # The failing badge and status page look only at these few rows, never at all sent mail.
            models.Index(fields=["mailbox", "created_at"], name="outgoing_failing", condition=FAILING),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "idempotency_key"],
                name="outgoing_idempotency_key_unique",
                condition=~models.Q(idempotency_key=""),
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.pk} to {', '.join(self.recipients)} ({self.status})"
