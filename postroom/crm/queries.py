"""Reading leads and cases: the organization-scoped, filterable lists and the thread of a record, shared by
the web pages, the API and the CLI so they always agree.

Every query starts from the organization; an id of another organization's record, owner, source or
mailbox simply matches nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from postroom.crm.models import Case, Lead
from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.organizations.models import Organization

Record = Lead | Case


@dataclass(frozen=True)
class LeadFilters:
    status: str = ""
    owner: int | None = None
    source: int | None = None
    mailbox: int | None = None


@dataclass(frozen=True)
class CaseFilters:
    status: str = ""
    owner: int | None = None
    assignee: int | None = None
    priority: str = ""
    mailbox: int | None = None


def leads_of(organization: Organization, filters: LeadFilters = LeadFilters()) -> QuerySet[Lead]:
    """The organization's leads, newest first, narrowed by `filters` (empty values do not filter)."""
    leads = Lead.objects.filter(organization=organization)
    if filters.status:
        leads = leads.filter(status=filters.status)
    if filters.owner is not None:
        leads = leads.filter(owner_id=filters.owner)
    if filters.source is not None:
        leads = leads.filter(source_id=filters.source)
    if filters.mailbox is not None:
        leads = leads.filter(mailbox_id=filters.mailbox)
    return leads.select_related("owner", "source", "mailbox").order_by("-created_at", "-id")


def cases_of(organization: Organization, filters: CaseFilters = CaseFilters()) -> QuerySet[Case]:
    """The organization's cases, newest first, narrowed by `filters` (empty values do not filter)."""
    cases = Case.objects.filter(organization=organization)
    if filters.status:
        cases = cases.filter(status=filters.status)
    if filters.owner is not None:
        cases = cases.filter(owner_id=filters.owner)
    if filters.assignee is not None:
        cases = cases.filter(assignee_id=filters.assignee)
    if filters.priority:
        cases = cases.filter(priority=filters.priority)
    if filters.mailbox is not None:
        cases = cases.filter(mailbox_id=filters.mailbox)
    return cases.select_related("owner", "assignee", "mailbox").order_by("-created_at", "-id")


def originating_message(record: Record) -> Message:
    return Message.objects.select_related("body").get(pk=record.message_id)


def thread_messages(record: Record, mailboxes: QuerySet[Mailbox]) -> QuerySet[Message]:
    """The messages of the record's conversation (its originating message's thread, which follows
    merges) that are placed in one of `mailboxes` — the ones the reader may see — oldest first."""
    thread_id = Message.objects.values_list("thread_id", flat=True).get(pk=record.message_id)
    return (
        Message.objects.filter(
            organization_id=record.organization_id,
            thread_id=thread_id,
            placements__mailbox__in=mailboxes,
        )
        .distinct()
        .order_by("date", "id")
    )
