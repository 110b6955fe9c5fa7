"""Leads and cases: filterable, paginated lists and detail pages with the originating message and the
conversation. Every member of the organization may read them (records are the organization's); the
thread's messages are limited to the mailboxes the reader may see (M6)."""

from __future__ import annotations

from typing import Any, Literal

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Page, Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from postroom.accounts.models import User
from postroom.crm.models import Case, Lead, LeadSource, LeadStatus, set_language
from postroom.crm.queries import (
    CaseFilters,
    LeadFilters,
    Record,
    cases_of,
    leads_of,
    originating_message,
    thread_messages,
)
from postroom.mailboxes.access import visible_mailboxes
from postroom.mailboxes.models import CasePriority, CaseStatus, Mailbox
from postroom.organizations.access import OrgAccess
from postroom.organizations.models import Organization
from postroom.web.guards import org_view

PAGE_SIZE = 50


def _members(organization: Organization) -> QuerySet[User]:
    return User.objects.filter(memberships__organization=organization).order_by("email")


def _choices(values: list[tuple[str, str]]) -> list[tuple[str, str]]:
    return [("", "Any"), *values]


class RecordFilterForm(forms.Form):
    """Filters shared by both lists; a value that does not belong to the organization is an error and
    that filter is ignored."""

    status = forms.ChoiceField(required=False)
    owner = forms.ModelChoiceField(queryset=User.objects.none(), required=False, empty_label="Any")
    mailbox = forms.ModelChoiceField(queryset=Mailbox.objects.none(), required=False, empty_label="Any")
    records: type[Lead] | type[Case]

    def __init__(self, data: Any, organization: Organization) -> None:
        super().__init__(data)
        self.fields["owner"].queryset = _members(organization)  # type: ignore[attr-defined]
        # Only the mailboxes the listed records came from (each record names its own anyway): every
        # member sees these lists, and must not learn the other mailboxes' labels and addresses (M6).
        origins = self.records.objects.filter(organization=organization).values("mailbox")
        self.fields["mailbox"].queryset = Mailbox.objects.filter(  # type: ignore[attr-defined]
            organization=organization, pk__in=origins
        )

    def value(self, name: str) -> Any:
        self.is_valid()
        return self.cleaned_data.get(name) if name not in self.errors else None

    def pk(self, name: str) -> int | None:
        chosen = self.value(name)
        return chosen.pk if chosen is not None else None


class LeadFilterForm(RecordFilterForm):
    records = Lead
    source = forms.ModelChoiceField(queryset=LeadSource.objects.none(), required=False, empty_label="Any")

    def __init__(self, data: Any, organization: Organization) -> None:
        super().__init__(data, organization)
        self.fields["status"].choices = _choices(list(LeadStatus.choices))  # type: ignore[attr-defined]
        self.fields["source"].queryset = LeadSource.objects.filter(  # type: ignore[attr-defined]
            organization=organization
        )

    def filters(self) -> LeadFilters:
        return LeadFilters(
            status=self.value("status") or "",
            owner=self.pk("owner"),
            source=self.pk("source"),
            mailbox=self.pk("mailbox"),
        )


class CaseFilterForm(RecordFilterForm):
    records = Case
    assignee = forms.ModelChoiceField(queryset=User.objects.none(), required=False, empty_label="Any")
    priority = forms.ChoiceField(required=False, choices=_choices(list(CasePriority.choices)))

    def __init__(self, data: Any, organization: Organization) -> None:
        super().__init__(data, organization)
        self.fields["status"].choices = _choices(list(CaseStatus.choices))  # type: ignore[attr-defined]
        self.fields["assignee"].queryset = _members(organization)  # type: ignore[attr-defined]

    def filters(self) -> CaseFilters:
        return CaseFilters(
            status=self.value("status") or "",
            owner=self.pk("owner"),
            assignee=self.pk("assignee"),
            priority=self.value("priority") or "",
            mailbox=self.pk("mailbox"),
        )


def _page(request: HttpRequest, records: QuerySet[Any]) -> Page[Any]:
    return Paginator(records, PAGE_SIZE).get_page(request.GET.get("page"))


def _query_without_page(request: HttpRequest) -> str:
    query = request.GET.copy()
    query.pop("page", None)
    return query.urlencode()


def _detail(
    request: HttpRequest,
    access: OrgAccess,
    record: Record,
    template: str,
    errors: dict[str, list[str]] | None = None,
) -> HttpResponse:
    ctx = {
        "access": access,
        "record": record,
        "message": originating_message(record),
        "thread": thread_messages(record, visible_mailboxes(access)),
        "menu": "leads" if isinstance(record, Lead) else "cases",
        "errors": errors or {},
    }
    return render(request, template, ctx, status=422 if errors else 200)


def _list(
    request: HttpRequest,
    access: OrgAccess,
    form: forms.Form,
    records: QuerySet[Any],
    kind: Literal["leads", "cases"],
) -> HttpResponse:
    """A filtered, paginated list of leads or cases (`kind`), rendered with that kind's template."""
    ctx = {
        "access": access,
        "form": form,
        "page": _page(request, records),
        "query": _query_without_page(request),
        "menu": kind,
    }
    return render(request, f"postroom/crm/{kind[:-1]}_list.html", ctx)


@require_GET
@org_view("member")
def lead_list(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    form = LeadFilterForm(request.GET, access.organization)
    records = leads_of(access.organization, form.filters())
    return _list(request, access, form, records, "leads")


@require_http_methods(["GET", "POST"])
@org_view("member")
def lead_detail(request: HttpRequest, access: OrgAccess, lead_id: int) -> HttpResponse:
    """The lead; a POST sets its language (what automatic replies to the person use first)."""
    lead = get_object_or_404(leads_of(access.organization), pk=lead_id)
    if request.method == "POST":
        try:
            set_language(lead, request.POST.get("language", ""))
        except ValidationError as exc:
            lead.language = request.POST.get("language", "")
            return _detail(request, access, lead, "postroom/crm/lead_detail.html", {"language": exc.messages})
        messages.success(request, "Language saved.")
        return redirect("lead-detail", slug=access.organization.slug, lead_id=lead.pk)
    return _detail(request, access, lead, "postroom/crm/lead_detail.html")


@require_GET
@org_view("member")
def case_list(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    form = CaseFilterForm(request.GET, access.organization)
    records = cases_of(access.organization, form.filters())
    return _list(request, access, form, records, "cases")


@require_GET
@org_view("member")
def case_detail(request: HttpRequest, access: OrgAccess, case_id: int) -> HttpResponse:
    case = get_object_or_404(cases_of(access.organization), pk=case_id)
    return _detail(request, access, case, "postroom/crm/case_detail.html")
