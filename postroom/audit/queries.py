"""Reading the audit log, newest first, one page at a time. Pages are keyset-paginated on the id (the
next page starts below the last id shown), so a page costs the same however long the log grows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from postroom.audit.models import AuditEntry, ObjectType
from postroom.organizations.models import Organization

PAGE_SIZE = 50


@dataclass(frozen=True)
class Page:
    entries: list[AuditEntry]
    next_before: int | None  # pass as `before` for the next (older) page; None on the last page


def audit_page(
    organization: Organization, object_type: str = "", before: int | None = None, limit: int = PAGE_SIZE
) -> Page:
    """Entries of `organization`, optionally of one object type, older than id `before`."""
    query = AuditEntry.objects.filter(organization=organization).select_related("actor")
    if object_type:
        if object_type not in ObjectType.values:
            choices = ", ".join(ObjectType.values)
            raise ValueError(f"unknown object type {object_type!r}: use one of {choices}")
        query = query.filter(object_type=object_type)
    if before is not None:
        query = query.filter(pk__lt=before)
    rows = list(query.order_by("-pk")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return Page(rows, rows[-1].pk if more and rows else None)


def entry_document(entry: AuditEntry) -> dict[str, Any]:
    """An entry as the API and `postroom audit list --json` show it."""
    return {
        "id": entry.pk,
        "at": entry.at.isoformat(),
        "actor": entry.actor.email if entry.actor else None,
        "actor_label": entry.actor_label,
        "action": entry.action,
        "object_type": entry.object_type,
        "object_id": entry.object_id,
        "object_label": entry.object_label,
        "changes": entry.changes,
    }
