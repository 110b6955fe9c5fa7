"""An organization's audit log over JSON (organization admins), newest first, keyset-paginated: pass the
page's `next_before` as `before` to get the next, older page."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

from postroom.api.errors import FieldErrors
from postroom.api.schemas import responses
from postroom.api.tenancy import open_org
from postroom.audit.models import ObjectType
from postroom.audit.queries import audit_page, entry_document

router = Router(tags=["audit"])

MAX_LIMIT = 200


class AuditEntryOut(Schema):
    id: int
    at: datetime
    actor: str | None = Field(description="The acting user's email; null for the command line or the system.")
    actor_label: str = Field(description='Who acted, e.g. "ann@example.org (web)" or "cli: config import".')
    action: str = Field(description="created, changed or deleted")
    object_type: str
    object_id: int
    object_label: str
    changes: dict[str, Any] = Field(
        description='field -> [old, new]; a secret field (a password) -> "changed", never a value.'
    )


class AuditPageOut(Schema):
    entries: list[AuditEntryOut]
    next_before: int | None = Field(description="Pass as `before` for the next page; null on the last.")


@router.get(
    "/orgs/{slug}/audit",
    response=responses({200: AuditPageOut}, validation=True),
    summary="The audit log, newest first",
)
def list_audit(
    request: HttpRequest, slug: str, type: str = "", before: int | None = None, limit: int = 50
) -> AuditPageOut:
    organization = open_org(request, slug, "admin").organization
    if type and type not in ObjectType.values:
        raise FieldErrors.single("type", f"Use one of: {', '.join(ObjectType.values)}.")
    page = audit_page(organization, type, before, max(1, min(limit, MAX_LIMIT)))
    entries = [AuditEntryOut(**entry_document(entry)) for entry in page.entries]
    return AuditPageOut(entries=entries, next_before=page.next_before)
