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
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="folders", db_index=False)
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


class Placement(models.Model):
    """ "This message appears in this folder at this UID": the link between a stored Message and the
    server. The same message in two folders or two mailboxes is one Message with several placements.
    Rows go when the server no longer has the message there; the Message always stays."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    # Denormalised from folder so per-mailbox listings and exports need no join. Neither key has an index
    # of its own: placement_mailbox_message and placement_unique_uid lead with them (sync 0004).
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="placements", db_index=False)
    folder = models.ForeignKey(Folder, on_delete=models.CASCADE, related_name="placements", db_index=False)
    uid = models.BigIntegerField()
    message = models.ForeignKey("mail.Message", on_delete=models.CASCADE, related_name="placements")
    flags: models.JSONField[list[str], Any] = models.JSONField(default=list)
    seen = models.BooleanField(default=False)
    internal_date = models.DateTimeField(null=True, blank=True, help_text="The server's INTERNALDATE.")
    size = models.PositiveIntegerField(default=0, help_text="The server's RFC822.SIZE.")
    modseq = models.BigIntegerField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["folder", "uid"], name="placement_unique_uid")]
        indexes = [
            models.Index(fields=["mailbox", "message"], name="placement_mailbox_message"),
        ]

    def __str__(self) -> str:
        return f"message {self.message_id} in folder {self.folder_id} at UID {self.uid}"


class MailboxSyncState(models.Model):
    """One per mailbox: when it syncs next, who is syncing it now (the lease), and how the last runs went.

    The lease is claimed with a conditional UPDATE (see `postroom.sync.lease`), so one mailbox is synced
    by one worker at a time across processes and machines; an expired lease can be taken over."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    mailbox = models.OneToOneField(Mailbox, on_delete=models.CASCADE, related_name="sync_state")
    next_sync_at = models.DateTimeField(null=True, blank=True, help_text="Empty: due now.")
    lease_owner = models.CharField(max_length=200, blank=True)
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    last_sync_started_at = models.DateTimeField(null=True, blank=True)
    last_sync_finished_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    last_error_code = models.CharField(max_length=50, blank=True)
    last_error = models.TextField(blank=True, help_text="Written for an admin; never contains a secret.")
    error_since = models.DateTimeField(null=True, blank=True)
    consecutive_failures = models.PositiveIntegerField(default=0)

    # Who keeps an IMAP IDLE watch on the mailbox's INBOX (one worker across all; see postroom.sync.idle).
    idle_owner = models.CharField(max_length=200, blank=True)
    idle_expires_at = models.DateTimeField(null=True, blank=True)

    # Counters over the mailbox's life (for status pages and operators).
    runs = models.PositiveIntegerField(default=0)
    messages_fetched = models.PositiveBigIntegerField(default=0)
    messages_created = models.PositiveBigIntegerField(default=0)
    uidvalidity_resets = models.PositiveIntegerField(default=0)
    last_run_fetched = models.PositiveIntegerField(default=0)
    last_run_created = models.PositiveIntegerField(default=0)

    class Meta:
        indexes = [models.Index(fields=["next_sync_at"], name="syncstate_next_sync")]

    def __str__(self) -> str:
        return f"sync state of mailbox {self.mailbox_id}"
