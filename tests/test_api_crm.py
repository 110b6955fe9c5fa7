"""Leads and cases over the API: filters, paging and the originating message on the detail."""

from __future__ import annotations

from postroom.crm.models import Case, Lead
from tests.api_helpers import as_user
from tests.conftest import Cast
from tests.factories import make_lead_source
from tests.mailbuilder import build
from tests.processing_helpers import arrive, case_mailbox, converted_lead, lead_mailbox, process


def test_lead_list_filters_and_pages(cast: Cast) -> None:
    fax = make_lead_source(cast.acme, "Fax")
    sales = lead_mailbox(cast.acme, cast.member)
    info = lead_mailbox(cast.acme, cast.org_admin, label="Info", source=fax)
    arrive(sales, [build(subject="One"), build(subject="Two")])
    arrive(info, [build(subject="Three")])
    process()

    def names(query: str) -> list[str]:
        response = as_user(cast.member, "GET", "/orgs/acme/leads" + query)
        assert response.status_code == 200
        return [lead["name"] for lead in response.json()]

    assert names("") == ["Three", "Two", "One"]
    assert names(f"?source={fax.pk}") == names(f"?owner={cast.org_admin.pk}") == ["Three"]
    assert names(f"?mailbox={sales.pk}&limit=1&offset=1") == ["One"]
    assert names("?status=qualified") == []


def test_lead_detail_carries_the_originating_message(cast: Cast) -> None:
    lead = converted_lead(cast.acme, cast.member, subject="Chairs", body="Forty of them.\n")
    body = as_user(cast.loner, "GET", f"/orgs/acme/leads/{lead.pk}").json()
    assert (body["reference"], body["name"], body["notes"]) == ("LEAD-1", "Chairs", "Forty of them.")
    assert body["message"]["subject"] == "Chairs"
    assert body["message"]["text"].strip() == "Forty of them."
    assert body["thread_id"] == Lead.objects.get().message.thread_id


def test_case_list_filters_by_priority_and_assignee(cast: Cast) -> None:
    urgent = case_mailbox(cast.acme, cast.member, case_assignee=cast.configurer)
    calm = case_mailbox(cast.acme, cast.member, label="Calm", case_priority="low")
    arrive(urgent, [build(subject="Down")])
    arrive(calm, [build(subject="Question")])
    process()

    def subjects(query: str) -> list[str]:
        return [c["subject"] for c in as_user(cast.member, "GET", "/orgs/acme/cases" + query).json()]

    assert subjects("?priority=high") == subjects(f"?assignee={cast.configurer.pk}") == ["Down"]
    assert subjects("?priority=low") == ["Question"]
    case = Case.objects.get(subject="Down")
    detail = as_user(cast.member, "GET", f"/orgs/acme/cases/{case.pk}").json()
    assert (detail["reference"], detail["status"], detail["source"]) == ("CASE-1", "in_progress", "email")
