"""Lead source options of an organization: their order, and keys derived from labels."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.text import slugify

from postroom.crm.models import LeadSource
from postroom.organizations.models import Organization


def sources_of(organization: Organization) -> QuerySet[LeadSource]:
    return LeadSource.objects.filter(organization=organization).order_by("position", "id")


def unique_key(organization: Organization, label: str) -> str:
    """A key derived from `label` that no other source of the organization uses (keys never change)."""
    base = slugify(label).replace("_", "-").strip("-")[:40].strip("-") or "source"
    taken = set(LeadSource.objects.filter(organization=organization).values_list("key", flat=True))
    key, n = base, 2
    while key in taken:
        key, n = f"{base}-{n}", n + 1
    return key
