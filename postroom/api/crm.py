"""Leads and cases over JSON (member level, like the web pages). Lists take the same filters as the web
lists plus `limit`/`offset`; the detail adds the originating message. A lead's language can be set."""

from __future__ import annotations

from datetime import datetime

from django.core.exceptions import ValidationError
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema

from postroom.api.errors import FieldErrors
from postroom.api.schemas import Input, responses
from postroom.api.tenancy import open_org
from postroom.crm.models import Case, Lead, set_language
from postroom.crm.queries import CaseFilters, LeadFilters, Record, cases_of, leads_of, originating_message

router = Router(tags=["leads and cases"])

MAX_LIMIT = 500


class OriginOut(Schema):
    id: int
    subject: str
    from_name: str
    from_address: str
    date: datetime | None
    text: str = Field(description="The plain-text body.")


class LeadOut(Schema):
    id: int
    number: int
    reference: str = Field(description='The human number, e.g. "LEAD-12".')
    name: str
    first_name: str
    last_name: str
    email: str
    status: str
    owner_id: int | None
    source_id: int
    source: str
    mailbox_id: int | None
    thread_id: int
    message_id: int
    notes: str
    language: str = Field(description='The person\'s language ("de", "pt-BR"): auto-replies use it first.')
    created_at: datetime


class LeadPatch(Input):
    language: str = Field(description='A language tag such as "de" or "en-GB"; "" for none.')


class CaseOut(Schema):
    id: int
    number: int
    reference: str = Field(description='The human number, e.g. "CASE-1042".')
    subject: str
    description: str
    email: str
    source: str
    status: str
    priority: str
    owner_id: int | None
    assignee_id: int | None
    mailbox_id: int | None
    thread_id: int
    message_id: int
    created_at: datetime


class LeadDetailOut(LeadOut):
    message: OriginOut


class CaseDetailOut(CaseOut):
    message: OriginOut


def current_thread_id(record: Record) -> int:
    """The thread the record's conversation lives in now (its originating message's, after merges)."""
    return record.thread_id or record.message.thread_id


def lead_out(lead: Lead) -> LeadOut:
    return LeadOut(
        id=lead.pk,
        number=lead.number,
        reference=lead.reference,
        name=lead.name,
        first_name=lead.first_name,
        last_name=lead.last_name,
        email=lead.email,
        status=lead.status,
        owner_id=lead.owner_id,
        source_id=lead.source_id,
        source=lead.source.label,
        mailbox_id=lead.mailbox_id,
        thread_id=current_thread_id(lead),
        message_id=lead.message_id,
        notes=lead.notes,
        language=lead.language,
        created_at=lead.created_at,
    )


def case_out(case: Case) -> CaseOut:
    return CaseOut(
        id=case.pk,
        number=case.number,
        reference=case.reference,
        subject=case.subject,
        description=case.description,
        email=case.email,
        source=case.source,
        status=case.status,
        priority=case.priority,
        owner_id=case.owner_id,
        assignee_id=case.assignee_id,
        mailbox_id=case.mailbox_id,
        thread_id=current_thread_id(case),
        message_id=case.message_id,
        created_at=case.created_at,
    )


def origin_out(record: Record) -> OriginOut:
    message = originating_message(record)
    body = getattr(message, "body", None)
    return OriginOut(
        id=message.pk,
        subject=message.subject,
        from_name=message.from_name,
        from_address=message.from_address,
        date=message.date,
        text=body.text if body is not None else "",
    )


def _window(limit: int, offset: int) -> slice:
    limit = max(1, min(limit, MAX_LIMIT))
    offset = max(0, offset)
    return slice(offset, offset + limit)


@router.get(
    "/orgs/{slug}/leads", response=responses({200: list[LeadOut]}), summary="List leads, newest first"
)
def list_leads(
    request: HttpRequest,
    slug: str,
    status: str = "",
    owner: int | None = None,
    source: int | None = None,
    mailbox: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[LeadOut]:
    organization = open_org(request, slug, "member").organization
    leads = leads_of(organization, LeadFilters(status, owner, source, mailbox)).select_related("message")
    return [lead_out(lead) for lead in leads[_window(limit, offset)]]


@router.get("/orgs/{slug}/leads/{lead_id}", response=responses({200: LeadDetailOut}), summary="A lead")
def get_lead(request: HttpRequest, slug: str, lead_id: int) -> LeadDetailOut:
    organization = open_org(request, slug, "member").organization
    lead = get_object_or_404(leads_of(organization).select_related("message"), pk=lead_id)
    return LeadDetailOut(**lead_out(lead).model_dump(), message=origin_out(lead))


@router.patch(
    "/orgs/{slug}/leads/{lead_id}",
    response=responses({200: LeadDetailOut}, validation=True),
    summary="Set a lead's language",
)
def update_lead(request: HttpRequest, slug: str, lead_id: int, payload: LeadPatch) -> LeadDetailOut:
    organization = open_org(request, slug, "member").organization
    lead = get_object_or_404(leads_of(organization).select_related("message"), pk=lead_id)
    try:
        set_language(lead, payload.language)
    except ValidationError as exc:
        raise FieldErrors({"language": exc.messages}) from None
    return LeadDetailOut(**lead_out(lead).model_dump(), message=origin_out(lead))


@router.get(
    "/orgs/{slug}/cases", response=responses({200: list[CaseOut]}), summary="List cases, newest first"
)
def list_cases(
    request: HttpRequest,
    slug: str,
    status: str = "",
    owner: int | None = None,
    assignee: int | None = None,
    priority: str = "",
    mailbox: int | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[CaseOut]:
    organization = open_org(request, slug, "member").organization
    filters = CaseFilters(status, owner, assignee, priority, mailbox)
    cases = cases_of(organization, filters).select_related("message")
    return [case_out(case) for case in cases[_window(limit, offset)]]


@router.get("/orgs/{slug}/cases/{case_id}", response=responses({200: CaseDetailOut}), summary="A case")
def get_case(request: HttpRequest, slug: str, case_id: int) -> CaseDetailOut:
    organization = open_org(request, slug, "member").organization
    case = get_object_or_404(cases_of(organization).select_related("message"), pk=case_id)
    return CaseDetailOut(**case_out(case).model_dump(), message=origin_out(case))
