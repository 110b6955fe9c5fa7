"""Organizations (tenants), their roles, who belongs to them, and scoped configuration values."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models.functions import Lower

slug_validator = RegexValidator(
    r"^[a-z0-9](?:[a-z0-9-]{0,48}[a-z0-9])?$",
    "Use 1-50 lowercase letters, digits and dashes, not starting or ending with a dash.",
)


class Organization(models.Model):
    slug = models.CharField(max_length=50, unique=True, validators=[slug_validator])
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "slug"]

    def __str__(self) -> str:
        return self.name


class Role(models.Model):
    """A named set of permissions inside one organization (Sales, Support, Administrator...)."""

    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="roles", db_index=False
    )
    name = models.CharField(max_length=100)
    description = models.CharField(max_length=300, blank=True)
    can_configure = models.BooleanField(
        default=False,
        help_text="Holders may configure the organization: mailboxes, rules, templates, lead sources.",
    )

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint("organization", Lower("name"), name="role_name_unique_per_org"),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """A user's place in an organization: the roles they hold, and whether they administer it."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships", db_index=False
    )
    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="memberships")
    is_admin = models.BooleanField(
        default=False,
        help_text="Organization admins configure everything and manage users and roles.",
    )
    roles = models.ManyToManyField(Role, blank=True, related_name="memberships")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["organization__name", "user__email"]
        constraints = [
            models.UniqueConstraint(fields=["user", "organization"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization}"


class ConfigValue(models.Model):
    """One configuration value: the global default when `organization` is null, else that
    organization's override. A missing override means "use global" (see `postroom.organizations.config`).
    """

    organization = models.ForeignKey(
        Organization, null=True, blank=True, on_delete=models.CASCADE, related_name="config_values"
    )
    key = models.CharField(max_length=100)
    value: models.JSONField[Any, Any] = models.JSONField()
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            # Two partial constraints because NULLs never collide in a plain unique index.
            models.UniqueConstraint(
                fields=["key"],
                condition=models.Q(organization__isnull=True),
                name="config_global_key_unique",
            ),
            models.UniqueConstraint(
                fields=["organization", "key"],
                condition=models.Q(organization__isnull=False),
                name="config_org_key_unique",
            ),
        ]

    def __str__(self) -> str:
        scope = self.organization.slug if self.organization else "global"
        return f"{scope}:{self.key}"
