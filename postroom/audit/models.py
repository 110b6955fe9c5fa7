"""The audit log: who changed which piece of an organization's configuration, when, and what."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models

from postroom.organizations.models import Organization

# Shown instead of old and new value for a secret field (passwords, tokens): the log says that it changed,
# never what it was or became.
CONCEALED_CHANGE = "changed"


class Action(models.TextChoices):
    CREATED = "created", "Created"
    CHANGED = "changed", "Changed"
    DELETED = "deleted", "Deleted"


class ObjectType(models.TextChoices):
    MAILBOX = "mailbox", "Mailbox"
    RULE = "rule", "Rule"
    TEMPLATE = "template", "Template"
    ROLE = "role", "Role"
    MEMBERSHIP = "membership", "Membership"
    LEAD_SOURCE = "lead_source", "Lead source"
    LEAD = "lead", "Lead"
    CONFIGURATION = "configuration", "Configuration value"


class AuditEntry(models.Model):
    # Null for install-wide changes (a global configuration value), which only platform admins see.
    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="+", db_index=False
    )
    # Null when no logged-in user acted (the command line, the worker); `actor_label` says who then.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=200)
    at = models.DateTimeField(auto_now_add=True)
    action = models.CharField(max_length=10, choices=Action.choices)
    object_type = models.CharField(max_length=20, choices=ObjectType.choices)
    object_id = models.BigIntegerField()
    object_label = models.CharField(max_length=300)
    # field -> [old, new], or field -> "changed" for a secret.
    changes: models.JSONField[Any, Any] = models.JSONField(default=dict)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "audit entries"
        indexes = [
            models.Index(fields=["organization", "-id"], name="audit_org_newest"),
            models.Index(fields=["organization", "object_type", "-id"], name="audit_org_type_newest"),
        ]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.object_type} {self.object_label}"


class LoginFailure(models.Model):
    """A failed log-in (by account or by client address) or a refused API token (by address): the rows
    of the last minutes decide whether further attempts are refused. In the database, so every web
    process counts the same attempts."""

    scope = models.CharField(max_length=10)  # "account", "ip" or "token-ip"
    key = models.CharField(max_length=254)
    at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [models.Index(fields=["scope", "key", "at"], name="loginfailure_lookup")]

    def __str__(self) -> str:
        return f"{self.scope}:{self.key} at {self.at}"
