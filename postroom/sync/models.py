"""IMAP folders of a mailbox: what the server has, which ones the admin ticked, and per-folder sync state."""

from __future__ import annotations

from typing import Any

from django.db import models

from postroom.mailboxes.models import Mailbox
from postroom.organizations.models import Organization


class FolderKind(models.TextChoices):
    INBOX = "inbox", "Inbox"
    SENT = "sent", "Sent"
    DRAFTS = "drafts", "Drafts"
    TRASH = "trash", "Trash"
    SPAM = "spam", "Spam/Junk"
    ARCHIVE = "archive", "Archive"
    OTHER = "other", "Other"


class Folder(models.Model):
    # Denormalised from mailbox so tenant queries filter on one column.
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="folders")
    name = models.CharField(
        max_length=1000, help_text="The server's raw name (modified UTF-7), as SELECT takes it."
    )
    display_name = models.CharField(max_length=1000)
    delimiter = models.CharField(max_length=4, blank=True)
    parent_name = models.CharField(max_length=1000, blank=True)
    flags: models.JSONField[list[str], Any] = models.JSONField(default=list)
    kind = models.CharField(max_length=10, choices=FolderKind.choices, default=FolderKind.OTHER)
    selectable = models.BooleanField(default=True, help_text="False for \\Noselect containers.")
    selected = models.BooleanField(default=False, help_text="Ticked by the admin: this folder syncs.")
    exists_on_server = models.BooleanField(default=True)
    last_seen_at = models.DateTimeField(null=True, blank=True)

    # Sync state, owned by the sync engine.
    uidvalidity = models.BigIntegerField(null=True, blank=True)
    uidnext = models.BigIntegerField(null=True, blank=True)
    highest_modseq = models.BigIntegerField(null=True, blank=True)
    last_uid = models.BigIntegerField(default=0)

    class Meta:
        ordering = ["mailbox", "display_name"]
        constraints = [
            models.UniqueConstraint(fields=["mailbox", "name"], name="folder_name_unique_per_mailbox")
        ]
        indexes = [models.Index(fields=["organization", "mailbox"])]

    def __str__(self) -> str:
        return self.display_name
