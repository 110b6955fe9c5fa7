"""The audit log records a lead's language when someone sets it (web page or API), with who did it; the
leads that conversion creates leave no entry and cost no query of the audit log."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import connection
from django.db.models.signals import post_save, pre_save
from django.test.utils import CaptureQueriesContext

from postroom.audit import recorder
from postroom.audit.models import AuditEntry
from postroom.crm.models import Lead
from tests.api_helpers import as_user
from tests.conftest import Cast
from tests.mailbuilder import build
from tests.processing_helpers import arrive, converted_lead, lead_mailbox, process
from tests.web_support import client_for

pytestmark = pytest.mark.django_db


def lead_entries(cast: Cast) -> list[dict[str, object]]:
    """The lead entries of acme's audit log as an admin reads them over the API, oldest first."""
    response = as_user(cast.org_admin, "GET", "/orgs/acme/audit?type=lead")
    assert response.status_code == 200
    return list(reversed(response.json()["entries"]))


def test_language_set_on_the_web_page_and_over_the_api_is_in_the_audit_log_with_the_actor(
    cast: Cast,
) -> None:
    lead = converted_lead(cast.acme, cast.org_admin, sender="Ann <ann@example.org>")

    web = client_for(cast.member).post(f"/o/acme/leads/{lead.pk}/", {"language": " pt-BR "})
    api = as_user(cast.configurer, "PATCH", f"/orgs/acme/leads/{lead.pk}", {"language": "de"})
    unchanged = as_user(cast.configurer, "PATCH", f"/orgs/acme/leads/{lead.pk}", {"language": "de"})
    refused = as_user(cast.member, "PATCH", f"/orgs/acme/leads/{lead.pk}", {"language": "deutsch!"})

    assert web.status_code == 302 and api.status_code == 200 and unchanged.status_code == 200
    assert refused.status_code == 422
    first, second = lead_entries(cast)  # nothing for the unchanged or refused value
    assert first["actor"] == "agent@acme.example" and first["actor_label"] == "agent@acme.example (web)"
    assert first["changes"] == {"language": ["", "pt-BR"]}
    assert (
        second["actor"] == "mailadmin@acme.example"
        and second["actor_label"] == "mailadmin@acme.example (api)"
    )
    assert second["changes"] == {"language": ["pt-BR", "de"]}
    assert {first["action"], second["action"]} == {"changed"}
    assert first["object_id"] == second["object_id"] == lead.pk
    assert str(first["object_label"]).startswith(lead.reference)


@contextmanager
def lead_receivers_disconnected() -> Iterator[None]:
    pre_save.disconnect(sender=Lead, dispatch_uid="audit-crm.Lead")
    post_save.disconnect(sender=Lead, dispatch_uid="audit-crm.Lead")
    try:
        yield
    finally:
        recorder.connect()


def conversion_queries(cast: Cast, subject: str) -> list[str]:
    """The SQL of converting one new message into a lead (in a mailbox set up beforehand)."""
    mailbox = lead_mailbox(cast.acme, cast.org_admin, label=subject)
    arrive(mailbox, [build(subject=subject, sender=f"{subject} <{subject.lower()}@example.org>")])
    with CaptureQueriesContext(connection) as captured:
        assert process() == 1
    assert Lead.objects.filter(mailbox=mailbox).count() == 1
    return [query["sql"] for query in captured.captured_queries]


def test_conversion_creates_no_audit_entry_and_no_audit_query(cast: Cast) -> None:
    conversion_queries(cast, "Warmup")  # the organization's first conversion creates its counters
    AuditEntry.objects.all().delete()

    audited = conversion_queries(cast, "Alpha")
    with lead_receivers_disconnected():
        unaudited = conversion_queries(cast, "Beta")

    assert not AuditEntry.objects.filter(object_type="lead").exists()
    assert not any("audit_auditentry" in sql for sql in audited)
    # The audit log's receivers record nothing when a lead is created (declared to `bulk.ignores_creation`),
    # so a conversion costs what it costs with them disconnected: on PostgreSQL the lead is inserted with
    # its batch's claims (`create_together`), elsewhere by a plain INSERT.
    assert len(audited) == len(unaudited)
    plain = 0 if connection.vendor == "postgresql" else 1
    inserts = [sum(sql.startswith('INSERT INTO "crm_lead"') for sql in run) for run in (audited, unaudited)]
    assert inserts == [plain, plain]
