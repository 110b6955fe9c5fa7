"""Stored mail: one Message per (organization, Message-ID, content), its raw bytes, bodies, attachments,
and the threads that group messages into conversations.

The Message row is kept narrow because listing pages scan millions of them: raw bytes and decoded bodies
live in their own one-to-one tables. Where a message appears (mailbox, folder, UID, flags) belongs to the
sync app, which points at Message. Every row names its organization; nothing is shared across them.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import F
from django.db.models.functions import Coalesce
from django.utils import timezone

from postroom.organizations.models import Organization

MESSAGE_ID_LENGTH = 255


class Thread(models.Model):
    """A conversation: the messages whose Message-IDs reference one another (see `ThreadKey`)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    subject = models.TextField(blank=True, help_text="The subject of the conversation's first message.")
    created_at = models.DateTimeField(default=timezone.now)
    last_message_at = models.DateTimeField(null=True, blank=True)
    message_count = models.PositiveIntegerField(default=0)

    class Meta:
        # Thread lists page by keyset over (last_message_at, id), newest first (postroom.messages.reading).
        indexes = [
            models.Index(fields=["organization", "-last_message_at", "-id"], name="thread_org_recent_id")
        ]

    def __str__(self) -> str:
        return self.subject or "(no subject)"


class ThreadKey(models.Model):
    """Maps every Message-ID seen in an organization — a message's own and each one it references — to
    its thread, so a reply that arrives before its parent still finds the conversation."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    message_id = models.CharField(max_length=MESSAGE_ID_LENGTH)
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="keys")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "message_id"], name="threadkey_unique_per_org")
        ]

    def __str__(self) -> str:
        return self.message_id


class Message(models.Model):
    """One message of an organization, identified by (normalised Message-ID, content hash)."""

    # db_index=False on the foreign keys that lead a composite index anyway (here message_identity_per_org
    # and message_thread_date): a second index on the column only costs writes (mail 0007).
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    message_id = models.CharField(
        max_length=MESSAGE_ID_LENGTH, blank=True, help_text="Normalised: no angle brackets, lower case."
    )
    content_hash = models.CharField(max_length=64, help_text="sha256 of the author's headers and body.")
    raw_sha256 = models.CharField(max_length=64)
    size = models.PositiveIntegerField()

    subject = models.TextField(blank=True)
    from_name = models.TextField(blank=True)
    from_address = models.TextField(blank=True)
    to: models.JSONField[list[list[str]], Any] = models.JSONField(default=list)
    cc: models.JSONField[list[list[str]], Any] = models.JSONField(default=list)
    bcc: models.JSONField[list[list[str]], Any] = models.JSONField(default=list)
    reply_to: models.JSONField[list[list[str]], Any] = models.JSONField(default=list)
    date = models.DateTimeField(null=True, blank=True, help_text="The Date header; null if missing or bad.")
    in_reply_to = models.CharField(max_length=MESSAGE_ID_LENGTH, blank=True)
    references: models.JSONField[list[str], Any] = models.JSONField(default=list)

    # What auto-responders and converters need to recognise machine mail and mailing lists.
    auto_submitted = models.CharField(max_length=100, blank=True)
    precedence = models.CharField(max_length=50, blank=True)
    list_id = models.CharField(max_length=500, blank=True)
    list_unsubscribe = models.BooleanField(default=False)
    x_autoreply = models.BooleanField(default=False, help_text="Any X-Autoreply/X-Autorespond header.")
    x_auto_response_suppress = models.CharField(max_length=200, blank=True)
    return_path = models.CharField(max_length=320, blank=True, help_text='"<>" for the null sender.')
    content_language = models.CharField(max_length=100, blank=True)
    is_delivery_report = models.BooleanField(default=False)

    has_attachments = models.BooleanField(default=False)
    snippet = models.CharField(max_length=200, blank=True)
    thread = models.ForeignKey(Thread, on_delete=models.PROTECT, related_name="messages", db_index=False)
    parse_error = models.TextField(blank=True, help_text="What could not be parsed; empty when fine.")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "message_id", "content_hash"], name="message_identity_per_org"
            )
        ]
        indexes = [
            models.Index(fields=["thread", "date"], name="message_thread_date"),
            # Search results newest first by message date (postroom.messages.search.WHEN).
            models.Index(
                F("organization"),
                Coalesce("date", "created_at").desc(),
                F("id").desc(),
                name="message_org_when",
            ),
            models.Index(
                fields=["organization"], name="message_parse_errors", condition=~models.Q(parse_error="")
            ),
        ]

    def __str__(self) -> str:
        return self.subject or "(no subject)"


class MessageRaw(models.Model):
    """The exact bytes as fetched, so parsing can be re-run after a fix and attachments extracted."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, primary_key=True, related_name="raw")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    data = models.BinaryField()

    def __str__(self) -> str:
        return f"raw of message {self.pk}"


class MessageBody(models.Model):
    """Decoded bodies. `html` is the sender's markup as received: sanitize before showing it."""

    message = models.OneToOneField(Message, on_delete=models.CASCADE, primary_key=True, related_name="body")
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    text = models.TextField(blank=True)
    html = models.TextField(blank=True)

    def __str__(self) -> str:
        return f"body of message {self.pk}"


class Attachment(models.Model):
    """An attachment's description; its bytes stay in the raw message at `part_path`."""

    class Disposition(models.TextChoices):
        INLINE = "inline", "Inline"
        ATTACHMENT = "attachment", "Attachment"

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    message = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=200)
    size = models.PositiveBigIntegerField(help_text="Decoded size in bytes (estimated for base64).")
    content_id = models.CharField(max_length=MESSAGE_ID_LENGTH, blank=True)
    disposition = models.CharField(max_length=10, choices=Disposition.choices)
    part_path = models.CharField(max_length=100, help_text='IMAP section number, e.g. "2" or "1.3".')

    class Meta:
        ordering = ["message", "part_path"]

    def __str__(self) -> str:
        return self.filename


class ThreadRead(models.Model):
    """ "This member has read this conversation up to `seen_count` messages." A thread is unread for a
    member while it holds more messages than they saw (a new reply makes it unread again); marking it
    unread deletes the row. Per member, not per mailbox: a shared mailbox is read by many people."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey("accounts.User", on_delete=models.CASCADE, related_name="+", db_index=False)
    thread = models.ForeignKey(Thread, on_delete=models.CASCADE, related_name="reads")
    seen_count = models.PositiveIntegerField()
    read_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "thread"], name="threadread_once_per_user")]

    def __str__(self) -> str:
        return f"thread {self.thread_id} read by user {self.user_id}"
