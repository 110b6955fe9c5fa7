"""The audit log page of an organization (organization admins): who changed what, newest first."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from postroom.audit.models import ObjectType
from postroom.audit.queries import audit_page
from postroom.organizations.access import OrgAccess
from postroom.web.guards import org_view


def _before(request: HttpRequest) -> int | None:
    raw = request.GET.get("before", "")
    return int(raw) if raw.isdigit() else None


@require_GET
@org_view("admin")
def audit_log(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    object_type = request.GET.get("type", "")
    if object_type not in ObjectType.values:
        object_type = ""
    page = audit_page(access.organization, object_type, _before(request))
    ctx = {
        "access": access,
        "page": page,
        "object_type": object_type,
        "object_types": ObjectType.choices,
        "menu": "audit",
    }
    return render(request, "postroom/audit/list.html", ctx)
