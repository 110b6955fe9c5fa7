"""CRM records that mail turns into: the lead source options an admin manages in advance, and the leads
and cases that email processing creates (postroom.crm.conversion)."""

from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower

from postroom.organizations.models import Organization, slug_validator


class LeadSource(models.Model):
    """One option of a lead's Source. `key` never changes, so renaming keeps config imports idempotent;
    a retired option is hidden from new settings but stays on the leads that already carry it.
    """

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="lead_sources", db_index=False
    )
    key = models.CharField(max_length=50, validators=[slug_validator])
    label = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)
    retired = models.BooleanField(default=False)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "key"], name="leadsource_key_unique"),
            models.UniqueConstraint("organization", Lower("label"), name="leadsource_label_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.label} (retired)" if self.retired else self.label


language_tag_validator = RegexValidator(
    r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$",
    'Use a language tag such as "de", "en-GB" or "pt-BR".',
)


def _case_statuses() -> list[tuple[str, str]]:
    # Callable choices: the enum lives with the mailbox settings, whose module imports this one.
    from postroom.mailboxes.models import CaseStatus

    return list(CaseStatus.choices)


def _case_priorities() -> list[tuple[str, str]]:
    from postroom.mailboxes.models import CasePriority

    return list(CasePriority.choices)


class RecordKind(models.TextChoices):
    LEAD = "lead", "Lead"
    CASE = "case", "Case"


class LeadStatus(models.TextChoices):
    NEW = "new", "New"
    QUALIFIED = "qualified", "Qualified"
    DISQUALIFIED = "disqualified", "Disqualified"


class ThreadRecord(models.Model):
    """The claim "this thread of this organization already became a lead or a case". One row per
    converted thread, whatever the kind, so the database itself refuses a second record for a thread —
    a lead and a case included — under re-syncs, retries and concurrent workers.

    When the messages of this thread are merged into another (postroom.messages.threads), the absorbed
    thread is deleted and `thread` becomes NULL; the record keeps its originating message, whose thread
    is the merged one, and conversion re-attaches it there if the merged thread has no record of its own
    (see postroom.crm.conversion)."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    thread = models.ForeignKey(
        "mail.Thread", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=RecordKind.choices)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "thread"], name="threadrecord_one_per_thread")
        ]

    def __str__(self) -> str:
        return f"{self.kind} of thread {self.thread_id}"


class RecordCounter(models.Model):
    """The last number handed out per organization and kind (LEAD-12, CASE-1042). Incremented under
    the row's lock inside the creating transaction, so numbers are unique and a rolled-back conversion
    gives its number back."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    kind = models.CharField(max_length=10, choices=RecordKind.choices)
    last_number = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["organization", "kind"], name="recordcounter_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} counter of organization {self.organization_id}"


class ConvertedRecord(models.Model):
    """What a lead and a case share: their organization, human number, claim, origin and settings."""

    PREFIX = ""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+", db_index=False)
    number = models.PositiveIntegerField()
    record = models.OneToOneField(ThreadRecord, on_delete=models.PROTECT, related_name="+")
    email = models.CharField(max_length=320, blank=True, help_text="The sender's address.")
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    mailbox = models.ForeignKey("mailboxes.Mailbox", null=True, on_delete=models.SET_NULL, related_name="+")
    # NULL once the thread was merged into another; the originating message then names the thread.
    thread = models.ForeignKey("mail.Thread", null=True, on_delete=models.SET_NULL, related_name="+")
    message = models.ForeignKey("mail.Message", on_delete=models.PROTECT, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.reference

    @property
    def reference(self) -> str:
        """The number people quote: "LEAD-12", "CASE-1042"."""
        return f"{self.PREFIX}-{self.number}"


class Lead(ConvertedRecord):
    PREFIX = "LEAD"

    name = models.CharField(max_length=255)
    first_name = models.CharField(max_length=100, blank=True)
    last_name = models.CharField(max_length=100, blank=True)
    notes = models.TextField(blank=True)
    status = models.CharField(max_length=20, choices=LeadStatus.choices, default=LeadStatus.NEW)
    # PROTECT: a source is retired, never deleted, while leads carry it.
    source = models.ForeignKey(LeadSource, on_delete=models.PROTECT, related_name="leads")
    language = models.CharField(
        max_length=20,
        blank=True,
        validators=[language_tag_validator],
        help_text='The person\'s language, a tag such as "de" or "pt-BR": automatic replies to their address '
        "use it first.",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "number"], name="lead_number_unique"),
            models.UniqueConstraint(fields=["organization", "thread"], name="lead_one_per_thread"),
        ]
        indexes = [
            models.Index(fields=["organization", "status"], name="lead_org_status"),
            # The sender's language is looked up by address when a reply is written (autoresponse).
            models.Index("organization", Lower("email"), name="lead_org_email"),
        ]


class Case(ConvertedRecord):
    PREFIX = "CASE"
    SOURCE_EMAIL = "email"

    subject = models.CharField(max_length=255)
    description = models.TextField(blank=True)
    source = models.CharField(max_length=20, default=SOURCE_EMAIL)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=20, choices=_case_statuses, default="open")
    priority = models.CharField(max_length=10, choices=_case_priorities, default="normal")

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["organization", "number"], name="case_number_unique"),
            models.UniqueConstraint(fields=["organization", "thread"], name="case_one_per_thread"),
        ]
        indexes = [models.Index(fields=["organization", "status"], name="case_org_status")]


def set_language(lead: Lead, language: str) -> None:
    """Set the lead's language (trimmed; "" clears it). Raises ValidationError for a malformed tag."""
    language = language.strip()
    Lead._meta.get_field("language").clean(language, lead)
    lead.language = language
    lead.save(update_fields=["language"])
