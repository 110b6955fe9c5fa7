"""A system mailbox: a shared address of one organization, connected over IMAP and SMTP."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Lower
from django.views.decorators.debug import sensitive_variables

from postroom import crypto
from postroom.crm.models import LeadSource
from postroom.organizations.models import Organization, Role


class Encryption(models.TextChoices):
    SSL = "ssl", "SSL/TLS"
    STARTTLS = "starttls", "STARTTLS"
    NONE = "none", "None"


class ProcessType(models.TextChoices):
    NONE = "none", "Do Nothing"
    LEAD = "lead", "Convert To Lead"
    CASE = "case", "Convert To Case"


class CaseStatus(models.TextChoices):
    OPEN = "open", "Open"
    IN_PROGRESS = "in_progress", "In Progress"
    RESOLVED = "resolved", "Resolved"
    CLOSED = "closed", "Closed"


class CasePriority(models.TextChoices):
    LOW = "low", "Low"
    NORMAL = "normal", "Normal"
    HIGH = "high", "High"


class Mailbox(models.Model):
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="mailboxes", db_index=False
    )

    # General
    label = models.CharField("Mailbox Label", max_length=100)
    email = models.EmailField("Email", max_length=254)

    # Synchronization Settings
    imap_enabled = models.BooleanField("Enable IMAP", default=True)
    imap_host = models.CharField("IMAP Host", max_length=253, blank=True)
    imap_port = models.PositiveIntegerField("IMAP Port", default=993)
    imap_encryption = models.CharField(
        "Encryption", max_length=10, choices=Encryption.choices, default=Encryption.SSL
    )
    smtp_enabled = models.BooleanField("Enable SMTP", default=False)
    smtp_host = models.CharField("SMTP Host", max_length=253, blank=True)
    smtp_port = models.PositiveIntegerField("SMTP Port", default=587)
    smtp_encryption = models.CharField(
        "Encryption", max_length=10, choices=Encryption.choices, default=Encryption.STARTTLS
    )
    username = models.CharField("User", max_length=254, blank=True)
    password_ciphertext = models.TextField(blank=True, editable=False)
    verify_tls = models.BooleanField(
        "Verify TLS certificates",
        default=True,
        help_text="Turning this off lets anyone between Postroom and the server read the mail.",
    )
    sync_since = models.DateField(
        "First sync from",
        null=True,
        blank=True,
        help_text="Leave empty to take every message on the first sync.",
    )

    # Email Processing
    process_type = models.CharField(
        "Email Processing", max_length=10, choices=ProcessType.choices, default=ProcessType.NONE
    )
    processing_enabled_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="Mail received before this moment is never converted.",
    )
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="Owner",
    )
    lead_source = models.ForeignKey(
        LeadSource,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="Source",
    )
    case_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="Assign To",
    )
    case_status = models.CharField(
        "Status", max_length=20, choices=CaseStatus.choices, default=CaseStatus.OPEN
    )
    case_priority = models.CharField(
        "Priority", max_length=10, choices=CasePriority.choices, default=CasePriority.NORMAL
    )

    # Access Management
    access_roles = models.ManyToManyField(Role, blank=True, related_name="mailboxes")
    access_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL, blank=True, related_name="granted_mailboxes"
    )

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["label"]
        verbose_name_plural = "mailboxes"
        constraints = [
            models.UniqueConstraint("organization", Lower("label"), name="mailbox_label_unique_per_org"),
            models.UniqueConstraint("organization", Lower("email"), name="mailbox_email_unique_per_org"),
        ]

    def __str__(self) -> str:
        return f"{self.label} <{self.email}>"

    def server_settings(self) -> dict[str, dict[str, object]]:
        """The IMAP and SMTP connection settings as shown by the CLI and the config document (no secret)."""
        return {
            "imap": {
                "enabled": self.imap_enabled,
                "host": self.imap_host,
                "port": self.imap_port,
                "encryption": self.imap_encryption,
            },
            "smtp": {
                "enabled": self.smtp_enabled,
                "host": self.smtp_host,
                "port": self.smtp_port,
                "encryption": self.smtp_encryption,
            },
        }

    @property
    def has_password(self) -> bool:
        return bool(self.password_ciphertext)

    @sensitive_variables("plaintext")  # exception reports show it as stars
    def set_password(self, plaintext: str) -> None:
        self.password_ciphertext = crypto.encrypt(plaintext) if plaintext else ""

    def get_password(self) -> str:
        """The decrypted password, for the IMAP/SMTP modules only. Never render or log it."""
        return crypto.decrypt(self.password_ciphertext) if self.password_ciphertext else ""
