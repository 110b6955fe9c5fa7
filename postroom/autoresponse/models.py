"""Autoresponse rules of a mailbox, their conditions, and the email templates they answer with.

A rule's "Response Template" is either a reusable organization template or the rule's own inline one;
both are `EmailTemplate` rows (inline ones have `rule_owned=True` and no name uniqueness), so rendering
and "Save Response As Email Template" treat them the same way.
"""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from postroom.mailboxes.models import Mailbox
from postroom.organizations.models import Organization


class TemplateType(models.TextChoices):
    HTML = "html", "HTML"
    TEXT = "text", "Plain text"


class EmailTemplate(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    name = models.CharField(max_length=200)
    type = models.CharField(max_length=4, choices=TemplateType.choices, default=TemplateType.TEXT)
    rule_owned = models.BooleanField(
        default=False, help_text="A rule's inline template: not listed among the organization's templates."
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                "organization",
                Lower("name"),
                condition=models.Q(rule_owned=False),
                name="emailtemplate_name_unique_per_org",
            )
        ]

    def __str__(self) -> str:
        return self.name


class Translation(models.Model):
    """One language of a template. The first one (by position) is the fallback of last resort."""

    template = models.ForeignKey(
        EmailTemplate, on_delete=models.CASCADE, related_name="translations", db_index=False
    )
    language = models.CharField(max_length=20, help_text='A language tag such as "en" or "de".')
    subject = models.CharField(max_length=500)
    content = models.TextField()
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["template", "language"], name="translation_unique_language")
        ]

    def __str__(self) -> str:
        return f"{self.template} ({self.language})"


class MatchMode(models.TextChoices):
    ALL = "all", "All conditions (AND)"
    ANY = "any", "Any condition (OR)"


class Rule(models.Model):
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="autoresponse_rules")
    name = models.CharField(max_length=200)
    active = models.BooleanField(default=True)
    activated_at = models.DateTimeField(
        null=True, blank=True, help_text="Mail received before this moment is never answered by the rule."
    )
    position = models.PositiveIntegerField(default=0)
    match_mode = models.CharField(max_length=3, choices=MatchMode.choices, default=MatchMode.ALL)
    lets_later_rules_answer = models.BooleanField(
        "Let later rules also answer",
        default=False,
        help_text="Off: when this rule answers, the rules after it are not tried.",
    )
    template = models.ForeignKey(EmailTemplate, on_delete=models.PROTECT, related_name="rules")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["mailbox", "position", "id"]

    def __str__(self) -> str:
        return self.name

    def activate(self) -> None:
        """Mark active from now on (mail received earlier is never answered by this rule)."""
        if not self.active or self.activated_at is None:
            self.activated_at = timezone.now()
        self.active = True


class Field(models.TextChoices):
    SUBJECT = "subject", "Subject"
    BODY = "body", "Body"
    FROM = "from", "From"
    TO = "to", "To"
    CC = "cc", "Cc"
    BCC = "bcc", "Bcc"


class Operator(models.TextChoices):
    CONTAINS = "contains", "contains"
    NOT_CONTAINS = "not_contains", "does not contain"
    EQUALS = "equals", "is equal to"
    NOT_EQUALS = "not_equals", "is not equal to"
    STARTS_WITH = "starts_with", "starts with"
    ENDS_WITH = "ends_with", "ends with"
    ANY_OF = "any_of", "is any of"
    NOT_ANY_OF = "not_any_of", "is not any of"
    EMPTY = "empty", "is empty"
    NOT_EMPTY = "not_empty", "is not empty"
    MATCHES = "matches", "matches"


class Condition(models.Model):
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="conditions")
    field = models.CharField(max_length=10, choices=Field.choices)
    operator = models.CharField(max_length=12, choices=Operator.choices)
    value = models.CharField(max_length=1000, blank=True)
    position = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["position", "id"]

    def __str__(self) -> str:
        return f"{self.get_field_display()} {self.get_operator_display()} {self.value!r}"


class AutoReply(models.Model):
    """A rule answered a message: at most once per (rule, message), whatever retries or workers do."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="+")
    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="+")
    rule = models.ForeignKey(Rule, on_delete=models.CASCADE, related_name="replies", db_index=False)
    message = models.ForeignKey("mail.Message", on_delete=models.CASCADE, related_name="+")
    sender = models.CharField(max_length=320, help_text="The address answered, lower case.")
    outgoing = models.ForeignKey(
        "outbox.OutgoingMessage", on_delete=models.SET_NULL, null=True, related_name="+"
    )
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["rule", "message"], name="autoreply_once_per_rule")]

    def __str__(self) -> str:
        return f"rule {self.rule_id} answered message {self.message_id}"


class SenderThrottle(models.Model):
    """When a mailbox last answered a sender automatically. Claimed with one upsert that moves only a slot
    older than the window (`respond.claim_sender`); the unique constraint makes a concurrent claim wait and
    then find the slot taken, so two workers never both answer inside the window."""

    mailbox = models.ForeignKey(Mailbox, on_delete=models.CASCADE, related_name="+", db_index=False)
    sender = models.CharField(max_length=320)
    last_reply_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["mailbox", "sender"], name="throttle_once_per_sender")]

    def __str__(self) -> str:
        return f"{self.sender} via mailbox {self.mailbox_id}"
