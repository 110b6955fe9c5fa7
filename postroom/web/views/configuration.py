"""Configuration scopes: the organization's Email Configuration page (its overrides and its System
Mailboxes) and the platform admin's global values.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from postroom.mailboxes.models import Mailbox
from postroom.organizations.access import OrgAccess
from postroom.web.forms import SettingsForm
from postroom.web.guards import org_view, posted, require_platform_admin


@require_GET
@org_view("configure")
def configuration(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    return redirect("email-configuration", slug=access.organization.slug)


@require_http_methods(["GET", "POST"])
@org_view("configure")
def email_configuration(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    organization = access.organization
    form = SettingsForm(posted(request), organization=organization)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Email configuration saved.")
        return redirect("email-configuration", slug=organization.slug)
    ctx = {
        "access": access,
        "form": form,
        "mailboxes": Mailbox.objects.filter(organization=organization).select_related("lead_source"),
        "menu": "email",
    }
    return render(request, "postroom/configuration/email.html", ctx)


@require_http_methods(["GET", "POST"])
@login_required
def global_configuration(request: HttpRequest) -> HttpResponse:
    require_platform_admin(request)
    form = SettingsForm(posted(request), organization=None)
    if request.method == "POST" and form.is_valid():
        form.save()
        messages.success(request, "Global configuration saved.")
        return redirect("global-configuration")
    return render(request, "postroom/configuration/global.html", {"form": form})
