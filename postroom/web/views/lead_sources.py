"""Lead source options, managed in advance by an admin: add, rename, reorder, retire, restore.

Every action is a plain form POST that redirects back to the list; with htmx the list is swapped in place
by returning just the list fragment.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from postroom.crm.models import LeadSource
from postroom.crm.sources import sources_of, unique_key
from postroom.organizations.access import OrgAccess
from postroom.organizations.models import Organization
from postroom.web.forms import LeadSourceLabelForm
from postroom.web.guards import is_htmx, org_view


def _label_clash(organization: Organization, label: str, exclude: int | None = None) -> bool:
    clash = LeadSource.objects.filter(organization=organization, label__iexact=label)
    if exclude is not None:
        clash = clash.exclude(pk=exclude)
    return clash.exists()


def _page(
    request: HttpRequest,
    access: OrgAccess,
    add_form: LeadSourceLabelForm | None = None,
    error: str = "",
    status: int = 200,
) -> HttpResponse:
    template = "postroom/lead_sources/_list.html" if is_htmx(request) else "postroom/lead_sources/list.html"
    ctx = {
        "access": access,
        "sources": sources_of(access.organization),
        "add_form": add_form or LeadSourceLabelForm(auto_id="id_new_%s"),
        "error": error,
        "menu": "lead-sources",
    }
    return render(request, template, ctx, status=status)


def _done(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    if is_htmx(request):
        return _page(request, access)
    return redirect("lead-sources", slug=access.organization.slug)


@require_GET
@org_view("configure")
def lead_source_list(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    return _page(request, access)


@require_POST
@org_view("configure")
def lead_source_add(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    organization = access.organization
    form = LeadSourceLabelForm(request.POST, auto_id="id_new_%s")
    if form.is_valid():
        label = form.cleaned_data["label"].strip()
        if _label_clash(organization, label):
            form.add_error("label", "A lead source with this label already exists.")
        else:
            last = sources_of(organization).last()
            position = last.position + 1 if last is not None else 0
            try:
                with transaction.atomic():
                    LeadSource.objects.create(
                        organization=organization,
                        key=unique_key(organization, label),
                        label=label,
                        position=position,
                    )
            except IntegrityError:  # a concurrent add took the label or key
                form.add_error("label", "A lead source with this label already exists.")
            else:
                return _done(request, access)
    return _page(request, access, add_form=form)


@require_POST
@org_view("configure")
def lead_source_rename(request: HttpRequest, access: OrgAccess, source_id: int) -> HttpResponse:
    source = get_object_or_404(LeadSource, pk=source_id, organization=access.organization)
    form = LeadSourceLabelForm(request.POST)
    if not form.is_valid():
        return _page(request, access, error="Enter a label for the lead source.")
    label = form.cleaned_data["label"].strip()
    if _label_clash(access.organization, label, exclude=source.pk):
        return _page(request, access, error=f"A lead source labelled “{label}” already exists.")
    source.label = label
    source.save(update_fields=["label"])
    return _done(request, access)


@require_POST
@org_view("configure")
def lead_source_move(request: HttpRequest, access: OrgAccess, source_id: int) -> HttpResponse:
    get_object_or_404(LeadSource, pk=source_id, organization=access.organization)
    direction = request.POST.get("direction")
    if direction not in ("up", "down"):
        return _page(request, access, error="Choose to move the lead source up or down.", status=400)
    with transaction.atomic():
        ordered = list(sources_of(access.organization).select_for_update())
        index = next(i for i, s in enumerate(ordered) if s.pk == source_id)
        other = index - 1 if direction == "up" else index + 1
        if 0 <= other < len(ordered):
            ordered[index], ordered[other] = ordered[other], ordered[index]
        # Renumber everything: positions may have started out equal.
        for position, source in enumerate(ordered):
            if source.position != position:
                source.position = position
                source.save(update_fields=["position"])
    return _done(request, access)


def _set_retired(request: HttpRequest, access: OrgAccess, source_id: int, retired: bool) -> HttpResponse:
    source = get_object_or_404(LeadSource, pk=source_id, organization=access.organization)
    source.retired = retired
    source.save(update_fields=["retired"])
    return _done(request, access)


@require_POST
@org_view("configure")
def lead_source_retire(request: HttpRequest, access: OrgAccess, source_id: int) -> HttpResponse:
    return _set_retired(request, access, source_id, True)


@require_POST
@org_view("configure")
def lead_source_restore(request: HttpRequest, access: OrgAccess, source_id: int) -> HttpResponse:
    return _set_retired(request, access, source_id, False)
