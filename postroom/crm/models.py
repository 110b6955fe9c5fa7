"""CRM records that mail turns into. For now the lead source options an admin manages in advance."""

from __future__ import annotations

from django.db import models
from django.db.models.functions import Lower

from postroom.organizations.models import Organization, slug_validator


class LeadSource(models.Model):
    """One option of a lead's Source. `key` never changes, so renaming keeps config imports idempotent;
    a retired option is hidden from new settings but stays on the leads that already carry it.
    """

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="lead_sources")
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
