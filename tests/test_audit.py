"""The audit log: changes to mailboxes, rules, templates, roles, memberships, lead sources and settings are
recorded from every path (web, API, CLI, config import), with who and what, and never a secret's value."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from postroom.audit.models import AuditEntry
from postroom.autoresponse.editing import (
    ConditionData,
    RuleData,
    TemplateData,
    TranslationData,
    move_rule,
    save_rule,
    set_active,
)
from postroom.organizations.config import set_value
from postroom.organizations.models import Role
from tests.api_helpers import as_user, mailbox_body
from tests.cli_helpers import run_cli
from tests.conftest import Cast
from tests.factories import make_lead_source, make_mailbox, make_role
from tests.web_support import client_for, mailbox_form_data

NEW_PASSWORD = "Zebra-Quartz-4471-secret"


def entries(**filters: object) -> list[AuditEntry]:
    return list(AuditEntry.objects.filter(**filters).order_by("pk"))


def edit_url(cast: Cast, mailbox_id: int) -> str:
    return reverse("mailbox-edit", kwargs={"slug": cast.acme.slug, "mailbox_id": mailbox_id})


def test_web_mailbox_change_is_one_entry_with_access_and_password_only_as_changed(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme, "Sales", email="sales@acme.example.com", username="sales")
    AuditEntry.objects.all().delete()
    data = mailbox_form_data(
        label="Sales desk", password=NEW_PASSWORD, access_roles=[cast.support_role.pk], imap_port="143"
    )
    response = client_for(cast.org_admin).post(edit_url(cast, mailbox.pk), data)
    assert response.status_code == 302
    [entry] = entries(object_type="mailbox")
    assert entry.action == "changed"
    assert entry.actor == cast.org_admin
    assert entry.actor_label == "admin@acme.example (web)"
    assert entry.organization == cast.acme
    assert entry.changes["label"] == ["Sales", "Sales desk"]
    assert entry.changes["imap_port"] == [993, 143]
    assert entry.changes["access_roles"] == [[], ["Support"]]
    assert entry.changes["password"] == "changed"
    assert NEW_PASSWORD not in json.dumps(entry.changes)
    assert "username" not in entry.changes  # unchanged fields are not listed


def test_saving_a_mailbox_unchanged_records_nothing(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme, "Sales", email="sales@acme.example.com", username="sales")
    AuditEntry.objects.all().delete()
    data = mailbox_form_data(password="")
    assert client_for(cast.org_admin).post(edit_url(cast, mailbox.pk), data).status_code == 302
    assert entries() == []


def test_password_change_shows_changed_and_never_the_value_in_page_api_and_db(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme, "Sales", email="sales@acme.example.com", username="sales")
    client = client_for(cast.org_admin)
    client.post(edit_url(cast, mailbox.pk), mailbox_form_data(password=NEW_PASSWORD))

    raw_rows = json.dumps(list(AuditEntry.objects.values()), default=str)
    assert NEW_PASSWORD not in raw_rows
    assert mailbox.password_ciphertext not in raw_rows
    page = client.get(reverse("audit-log", kwargs={"slug": "acme"}))
    assert page.status_code == 200
    assert b"password" in page.content and b"changed" in page.content
    assert NEW_PASSWORD.encode() not in page.content
    api = as_user(cast.org_admin, "GET", "/orgs/acme/audit?type=mailbox")
    assert api.status_code == 200
    [entry] = [e for e in api.json()["entries"] if e["action"] == "changed"]
    assert entry["changes"] == {"password": "changed"}
    assert NEW_PASSWORD not in api.content.decode()


def test_api_mailbox_create_and_delete_are_recorded_with_the_token_user(cast: Cast) -> None:
    created = as_user(cast.configurer, "POST", "/orgs/acme/mailboxes", mailbox_body())
    assert created.status_code == 201, created.content
    mailbox_id = created.json()["id"]
    assert as_user(cast.configurer, "DELETE", f"/orgs/acme/mailboxes/{mailbox_id}").status_code == 204
    create, delete = entries(object_type="mailbox", object_id=mailbox_id)
    assert (create.action, delete.action) == ("created", "deleted")
    assert create.actor == delete.actor == cast.configurer
    assert create.actor_label == "mailadmin@acme.example (api)"
    assert create.changes["email"] == [None, "sales@acme.example.com"]
    assert create.changes["password"] == "changed"
    assert delete.object_label == "Sales <sales@acme.example.com>"


def test_deleting_a_mailbox_does_not_log_each_cascaded_rule(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    save_rule(mailbox, RuleData(name="Thanks", inline=_response("Hi")))
    mailbox.delete()
    assert [(e.object_type, e.action) for e in entries()][-1] == ("mailbox", "deleted")
    assert [e.action for e in entries(object_type="rule")] == ["created"]


def _response(subject: str) -> TemplateData:
    return TemplateData(translations=[TranslationData("en", subject, "Thanks")])


def test_rule_change_lists_conditions_and_response_in_one_entry(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    rule = save_rule(mailbox, RuleData(name="Orders", inline=_response("Got it")))
    changed = RuleData(
        name="Orders",
        conditions=[ConditionData("subject", "contains", "order")],
        inline=_response("Thanks for your order"),
    )
    save_rule(mailbox, changed, rule)
    created, edited = entries(object_type="rule")
    assert created.action == "created" and created.changes["name"] == [None, "Orders"]
    assert edited.action == "changed"
    assert set(edited.changes) == {"conditions", "response"}
    assert edited.changes["conditions"] == [[], ["Subject contains 'order'"]]
    assert edited.changes["response"][1][0]["subject"] == "Thanks for your order"
    assert entries(object_type="template") == []  # a rule's own response is part of the rule


def test_activation_and_order_of_rules_are_recorded(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    first = save_rule(mailbox, RuleData(name="First", inline=_response("A")))
    second = save_rule(mailbox, RuleData(name="Second", inline=_response("B")))
    AuditEntry.objects.all().delete()
    set_active(first, False)
    move_rule(second, 0)
    deactivated, *moves = entries(object_type="rule")
    assert deactivated.changes == {"active": [True, False]}
    assert {e.object_id: e.changes["position"] for e in moves} == {first.pk: [0, 1], second.pk: [1, 0]}


def test_roles_memberships_lead_sources_and_settings_are_recorded(cast: Cast) -> None:
    AuditEntry.objects.all().delete()
    role = make_role(cast.acme, "Billing")
    role.can_configure = True
    role.save()
    source = make_lead_source(cast.acme, "Fair")
    source.retired = True
    source.save(update_fields=["retired"])
    membership = cast.loner.memberships.get(organization=cast.acme)
    membership.roles.add(role)
    set_value("email.sync_interval_minutes", 5, cast.acme)
    set_value("email.sync_interval_minutes", 7, cast.acme)
    Role.objects.get(pk=role.pk).delete()
    summary = [(e.object_type, e.action, e.object_label, e.changes) for e in entries()]
    assert summary[0][:3] == ("role", "created", "Billing")
    assert summary[1] == ("role", "changed", "Billing", {"can_configure": [False, True]})
    assert summary[2][:3] == ("lead_source", "created", "Fair")
    assert summary[3] == ("lead_source", "changed", "Fair", {"retired": [False, True]})
    assert summary[4] == ("membership", "changed", "loner@acme.example", {"roles": [[], ["Billing"]]})
    assert summary[5][:2] == ("configuration", "created")
    assert summary[5][3] == {"email.sync_interval_minutes": [None, 5]}
    assert summary[6][3] == {"email.sync_interval_minutes": [5, 7]}
    assert summary[7][:3] == ("role", "deleted", "Billing")
    assert all(e.actor is None and e.actor_label == "system" for e in entries())


def test_cli_changes_are_attributed_to_the_command(
    cast: Cast, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    mailbox = make_mailbox(cast.acme)
    result = run_cli(
        capsys,
        monkeypatch,
        "mailbox",
        "set-password",
        str(mailbox.pk),
        "--password-stdin",
        stdin=NEW_PASSWORD,
    )
    assert result.code == 0, result.err
    [entry] = entries(object_type="mailbox", action="changed")
    assert entry.actor is None
    assert entry.actor_label == "cli: mailbox set-password"
    assert entry.changes == {"password": "changed"}


def test_config_import_is_attributed_to_config_import(
    cast: Cast, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    document = {
        "postroom_config": 1,
        "roles": [{"name": "Auditors", "description": "", "can_configure": False}],
    }
    result = run_cli(
        capsys, monkeypatch, "config", "import", "--org", "acme", "-", stdin=json.dumps(document)
    )
    assert result.code == 0, result.err
    [entry] = entries(object_type="role", object_label="Auditors")
    assert entry.actor_label == "cli: config import"


def test_cli_audit_list_prints_entries_newest_first_as_json(
    cast: Cast, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    AuditEntry.objects.all().delete()  # the personas' roles
    make_role(cast.acme, "First")
    make_role(cast.acme, "Second")
    make_role(cast.globex, "Elsewhere")
    result = run_cli(capsys, monkeypatch, "audit", "list", "--org", "acme", "--type", "role", "--json")
    assert result.code == 0, result.err
    rows = [json.loads(line) for line in result.out.splitlines()]
    assert [row["object_label"] for row in rows] == ["Second", "First"]
    assert rows[0]["actor_label"] == "system" and rows[0]["changes"]["name"] == [None, "Second"]
    unknown = run_cli(capsys, monkeypatch, "audit", "list", "--org", "nope")
    assert unknown.code == 2


def test_audit_page_filters_by_type_and_pages_by_keyset(cast: Cast) -> None:
    for index in range(55):
        make_role(cast.acme, f"Role {index:02}")
    make_lead_source(cast.acme, "Fair")
    client = client_for(cast.org_admin)
    url = reverse("audit-log", kwargs={"slug": "acme"})
    first = client.get(url, {"type": "role"})
    assert b"Role 54" in first.content and b"Role 05" in first.content
    assert b"Role 04" not in first.content and b"Fair" not in first.content
    next_before = first.context["page"].next_before
    second = client.get(url, {"type": "role", "before": next_before})
    assert b"Role 04" in second.content and b"Role 00" in second.content and b"Role 05" not in second.content
    assert second.context["page"].next_before is None


def test_api_audit_pages_and_rejects_an_unknown_type(cast: Cast) -> None:
    AuditEntry.objects.all().delete()
    for index in range(3):
        make_role(cast.acme, f"Role {index}")
    page = as_user(cast.org_admin, "GET", "/orgs/acme/audit?type=role&limit=2").json()
    assert [e["object_label"] for e in page["entries"]] == ["Role 2", "Role 1"]
    rest = as_user(cast.org_admin, "GET", f"/orgs/acme/audit?type=role&before={page['next_before']}").json()
    assert [e["object_label"] for e in rest["entries"]] == ["Role 0"] and rest["next_before"] is None
    assert as_user(cast.org_admin, "GET", "/orgs/acme/audit?type=nope").status_code == 422


def test_another_organizations_entries_are_not_shown(cast: Cast) -> None:
    make_role(cast.globex, "Globex secret role")
    page = client_for(cast.org_admin).get(reverse("audit-log", kwargs={"slug": "acme"}))
    assert b"Globex secret role" not in page.content
    api = as_user(cast.org_admin, "GET", "/orgs/acme/audit").json()
    assert all(e["object_label"] != "Globex secret role" for e in api["entries"])
