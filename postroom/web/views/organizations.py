"""Entering the product: the home redirect, the organization list, creating and switching organizations."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from postroom.mailboxes.access import visible_mailboxes
from postroom.organizations.access import OrgAccess, org_access, organizations_for
from postroom.web.forms import OrganizationForm
from postroom.web.guards import (
    LAST_ORG_SESSION_KEY,
    current_user,
    org_view,
    posted,
    remember_organization,
    require_platform_admin,
)


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The last used organization's home, else the list of organizations."""
    slug = request.session.get(LAST_ORG_SESSION_KEY)
    if slug:
        try:
            org_access(current_user(request), slug)
        except Http404:
            del request.session[LAST_ORG_SESSION_KEY]
        else:
            return redirect("org-home", slug=slug)
    return redirect("organizations")


@require_GET
@login_required
def organization_list(request: HttpRequest) -> HttpResponse:
    user = current_user(request)
    ctx = {"organizations": organizations_for(user), "can_create": user.is_platform_admin}
    return render(request, "postroom/organizations/list.html", ctx)


@require_http_methods(["GET", "POST"])
@login_required
def organization_new(request: HttpRequest) -> HttpResponse:
    require_platform_admin(request)
    form = OrganizationForm(posted(request))
    if request.method == "POST" and form.is_valid():
        organization = form.save()
        messages.success(request, f"Organization “{organization.name}” created.")
        return redirect("org-home", slug=organization.slug)
    return render(request, "postroom/organizations/new.html", {"form": form})


@require_GET
@login_required
def switch(request: HttpRequest) -> HttpResponse:
    """Switch the organization the user works in (a GET form in the top bar)."""
    access = org_access(current_user(request), request.GET.get("org", ""))
    remember_organization(request, access)
    return redirect("org-home", slug=access.organization.slug)


@require_GET
@org_view("member")
def org_home(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    remember_organization(request, access)
    ctx = {"access": access, "mailboxes": visible_mailboxes(access)}
    return render(request, "postroom/organizations/home.html", ctx)
