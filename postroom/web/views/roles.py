"""Roles of an organization (organization admins only)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from postroom.organizations.access import OrgAccess
from postroom.organizations.models import Role
from postroom.web.forms import RoleForm
from postroom.web.guards import org_view, posted


@require_GET
@org_view("admin")
def role_list(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    roles = Role.objects.filter(organization=access.organization)
    return render(request, "postroom/roles/list.html", {"access": access, "roles": roles, "menu": "roles"})


def _edit(request: HttpRequest, access: OrgAccess, role: Role | None) -> HttpResponse:
    form = RoleForm(posted(request), instance=role, organization=access.organization)
    if request.method == "POST" and form.is_valid():
        saved = form.save()
        messages.success(request, f"Role “{saved.name}” saved.")
        return redirect("roles", slug=access.organization.slug)
    ctx = {"access": access, "form": form, "role": role, "menu": "roles"}
    return render(request, "postroom/roles/form.html", ctx)


@require_http_methods(["GET", "POST"])
@org_view("admin")
def role_new(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    return _edit(request, access, None)


@require_http_methods(["GET", "POST"])
@org_view("admin")
def role_edit(request: HttpRequest, access: OrgAccess, role_id: int) -> HttpResponse:
    return _edit(request, access, get_object_or_404(Role, pk=role_id, organization=access.organization))


@require_http_methods(["GET", "POST"])
@org_view("admin")
def role_delete(request: HttpRequest, access: OrgAccess, role_id: int) -> HttpResponse:
    role = get_object_or_404(Role, pk=role_id, organization=access.organization)
    if request.method == "POST":
        role.delete()
        messages.success(request, f"Role “{role.name}” deleted.")
        return redirect("roles", slug=access.organization.slug)
    ctx = {
        "access": access,
        "role": role,
        "holders": role.memberships.count(),
        "mailboxes": role.mailboxes.count(),
        "menu": "roles",
    }
    return render(request, "postroom/roles/delete.html", ctx)
