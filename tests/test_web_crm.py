"""Lead and case pages: lists with filters and pages, details with the originating message and the
conversation, and the mailbox page listing messages whose processing keeps failing."""

from __future__ import annotations

from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from postroom.accounts.models import User
from postroom.crm.models import Lead
from postroom.processing.models import InboundJob, JobStatus
from postroom.processing.runner import MAX_ATTEMPTS, run_due_jobs
from tests.conftest import Cast
from tests.factories import make_lead_source
from tests.mailbuilder import build, reply_to
from tests.processing_helpers import (
    arrive,
    case_mailbox,
    converted_case,
    converted_lead,
    lead_mailbox,
    process,
)
from tests.web_support import client_for


def _list(cast: Cast, name: str, query: str = "") -> str:
    response = client_for(cast.member).get(reverse(name, kwargs={"slug": "acme"}) + query)
    assert response.status_code == 200
    return response.content.decode()


def test_lead_list_filters_by_status_owner_source_and_mailbox(cast: Cast) -> None:
    web = make_lead_source(cast.acme, "Web")
    fax = make_lead_source(cast.acme, "Fax")
    by_member = lead_mailbox(cast.acme, cast.member, source=web)
    by_admin = lead_mailbox(cast.acme, cast.org_admin, label="Info", source=fax)
    arrive(by_member, [build(subject="Alpha deal")])
    arrive(by_admin, [build(subject="Beta deal")])
    process()
    Lead.objects.filter(name="Beta deal").update(status="qualified")

    assert "Alpha deal" in _list(cast, "leads") and "Beta deal" in _list(cast, "leads")
    for query in (
        "?status=qualified",
        f"?owner={cast.org_admin.pk}",
        f"?source={fax.pk}",
        f"?mailbox={by_admin.pk}",
    ):
        page = _list(cast, "leads", query)
        assert "Beta deal" in page and "Alpha deal" not in page, query


def test_a_filter_naming_another_organizations_object_is_ignored_not_obeyed(cast: Cast) -> None:
    converted_lead(cast.acme, cast.member, subject="Ours")
    foreign = converted_lead(cast.globex, cast.outsider, subject="Theirs")
    page = _list(cast, "leads", f"?mailbox={foreign.mailbox_id}&source={foreign.source_id}")
    assert "Ours" in page and "Theirs" not in page


def test_case_list_filters_by_priority_assignee_and_status(cast: Cast) -> None:
    urgent = case_mailbox(cast.acme, cast.member, case_assignee=cast.configurer)
    calm = case_mailbox(cast.acme, cast.member, label="Calm", case_priority="low", case_status="open")
    arrive(urgent, [build(subject="Server down")])
    arrive(calm, [build(subject="Question")])
    process()
    for query in ("?priority=high", f"?assignee={cast.configurer.pk}", "?status=in_progress"):
        page = _list(cast, "cases", query)
        assert "Server down" in page and "Question" not in page, query
    assert "Question" in _list(cast, "cases", "?priority=low")


def test_lead_list_is_paginated(cast: Cast) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member)
    arrive(mailbox, [build(subject=f"Deal {n:02}") for n in range(55)])
    process()
    first, second = _list(cast, "leads"), _list(cast, "leads", "?page=2")
    assert "Page 1 of 2" in first and "Page 2 of 2" in second
    assert (first.count(">LEAD-"), second.count(">LEAD-")) == (50, 5)


def test_lead_detail_shows_the_originating_message_and_the_conversation(cast: Cast) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member)
    mailbox.access_users.add(cast.member)
    first = build(subject="Need 40 chairs", sender="Ann Lee <ann@example.org>", body="By Friday please.\n")
    arrive(mailbox, [first, reply_to(first, sender="Bob Replier <bob@example.net>")])
    process()
    lead = Lead.objects.get()
    page = client_for(cast.member).get(reverse("lead-detail", kwargs={"slug": "acme", "lead_id": lead.pk}))
    html = page.content.decode()
    assert "LEAD-1" in html and "Need 40 chairs" in html
    assert "ann@example.org" in html and "By Friday please." in html
    assert "Bob Replier" in html  # the reply is listed in the conversation


def test_case_detail_hides_conversation_mail_of_mailboxes_the_reader_may_not_see(cast: Cast) -> None:
    case = converted_case(cast.acme, cast.member, subject="Invoice wrong", body="Charged twice.\n")
    url = reverse("case-detail", kwargs={"slug": "acme", "case_id": case.pk})
    html = client_for(cast.loner).get(url).content.decode()
    assert "CASE-1" in html and "Charged twice." in html
    assert "None of this conversation" in html


def test_mailbox_page_lists_messages_whose_conversion_keeps_failing(cast: Cast) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member)
    arrive(mailbox, [build(subject="Lost customer?")])
    User.objects.filter(pk=cast.member.pk).update(is_active=False)
    now = timezone.now()
    for attempt in range(MAX_ATTEMPTS):
        run_due_jobs(now=now + attempt * timedelta(hours=2))
    url = reverse("mailbox-edit", kwargs={"slug": "acme", "mailbox_id": mailbox.pk})
    html = client_for(cast.org_admin).get(url).content.decode()
    assert "Email processing problems" in html
    assert "Lost customer?" in html
    assert "conversion keeps failing: the owner" in html
    assert f"Failed after {MAX_ATTEMPTS} attempts" in html


def test_retry_gives_failed_messages_new_attempts_and_they_convert_once_fixed(cast: Cast) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member)
    arrive(mailbox, [build(subject="Second chance")])
    User.objects.filter(pk=cast.member.pk).update(is_active=False)
    now = timezone.now()
    for attempt in range(MAX_ATTEMPTS):
        run_due_jobs(now=now + attempt * timedelta(hours=2))
    job = InboundJob.objects.get()
    assert job.status == JobStatus.FAILED
    User.objects.filter(pk=cast.member.pk).update(is_active=True)  # the admin fixed the cause

    url = reverse("processing-retry", kwargs={"slug": "acme", "mailbox_id": mailbox.pk})
    response = client_for(cast.configurer).post(url)

    assert response.status_code == 302
    job.refresh_from_db()
    assert (job.status, job.attempts) == (JobStatus.PENDING, 0)
    process()
    assert Lead.objects.get().name == "Second chance"
