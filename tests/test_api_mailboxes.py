"""System mailboxes over the API: the shared form's rules, other organizations' ids, and the password,
which is write-only and must never come back in any body or log line."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from postroom.mailboxes.models import Mailbox
from tests.api_helpers import as_user, call, mailbox_body, token_for
from tests.conftest import Cast
from tests.factories import MAILBOX_PASSWORD, make_lead_source, make_mailbox, make_role, make_user

SECRET = "imap-Secret-for-Sales-7"  # the password in mailbox_body()


def mailboxes_path(cast: Cast) -> str:
    return f"/orgs/{cast.acme.slug}/mailboxes"


def test_create_mailbox_applies_form_defaults_and_reports_has_password(cast: Cast) -> None:
    response = as_user(cast.configurer, "POST", mailboxes_path(cast), mailbox_body())
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["imap_port"], data["imap_encryption"], data["smtp_enabled"]) == (993, "ssl", False)
    assert data["has_password"] is True
    assert "password" not in data and "password_ciphertext" not in data
    mailbox = Mailbox.objects.get(pk=data["id"], organization=cast.acme)
    assert mailbox.get_password() == SECRET


def test_invalid_mailbox_is_422_with_the_forms_messages_per_field(cast: Cast) -> None:
    body = mailbox_body(imap_host="not a host!", email="nope", password="")
    response = as_user(cast.org_admin, "POST", mailboxes_path(cast), body)
    assert response.status_code == 422
    data = response.json()
    assert set(data["errors"]) == {"imap_host", "email", "password"}
    assert data["errors"]["password"] == ["Enter the password for this account."]
    assert isinstance(data["detail"], str)
    assert not Mailbox.objects.filter(organization=cast.acme, label="Sales").exists()


def test_duplicate_label_is_refused_per_organization_only(cast: Cast) -> None:
    make_mailbox(cast.acme, "Support")
    make_mailbox(cast.globex, "Sales")
    clash = as_user(cast.org_admin, "POST", mailboxes_path(cast), mailbox_body(label="support"))
    assert clash.status_code == 422
    assert "label" in clash.json()["errors"]
    assert (
        as_user(cast.org_admin, "POST", mailboxes_path(cast), mailbox_body(label="Sales")).status_code == 201
    )


def test_unknown_field_is_422_not_silently_ignored(cast: Cast) -> None:
    response = as_user(cast.org_admin, "POST", mailboxes_path(cast), mailbox_body(pasword="typo"))
    assert response.status_code == 422
    assert "pasword" in response.json()["errors"]


@pytest.mark.parametrize("new_password", [None, ""], ids=["absent", "empty"])
def test_patch_without_password_keeps_the_stored_one(cast: Cast, new_password: str | None) -> None:
    mailbox = make_mailbox(cast.acme)
    body: dict[str, Any] = {"imap_host": "mail.acme.example.com"}
    if new_password is not None:
        body["password"] = new_password
    response = as_user(cast.org_admin, "PATCH", f"{mailboxes_path(cast)}/{mailbox.pk}", body)
    assert response.status_code == 200, response.content
    mailbox.refresh_from_db()
    assert mailbox.imap_host == "mail.acme.example.com"
    assert mailbox.get_password() == MAILBOX_PASSWORD


def test_patch_with_password_replaces_it_and_keeps_other_fields(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    mailbox.access_roles.set([cast.support_role])
    path = f"{mailboxes_path(cast)}/{mailbox.pk}"
    response = as_user(cast.org_admin, "PATCH", path, {"password": "brand-New-pw-42"})
    assert response.status_code == 200
    mailbox.refresh_from_db()
    assert mailbox.get_password() == "brand-New-pw-42"
    assert (mailbox.label, mailbox.imap_host) == ("Support", "imap.example.com")
    assert list(mailbox.access_roles.all()) == [cast.support_role]
    assert response.json()["access_roles"] == [cast.support_role.pk]


def test_patch_can_clear_an_optional_relation(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme, process_type="case", owner=cast.member, case_assignee=cast.member)
    path = f"{mailboxes_path(cast)}/{mailbox.pk}"
    response = as_user(cast.org_admin, "PATCH", path, {"case_assignee": None})
    assert response.status_code == 200
    mailbox.refresh_from_db()
    assert (mailbox.case_assignee_id, mailbox.owner_id) == (None, cast.member.pk)


def test_delete_mailbox_removes_only_that_mailbox(cast: Cast) -> None:
    doomed, kept = make_mailbox(cast.acme, "Support"), make_mailbox(cast.acme, "Sales")
    assert as_user(cast.org_admin, "DELETE", f"{mailboxes_path(cast)}/{doomed.pk}").status_code == 204
    assert list(Mailbox.objects.filter(organization=cast.acme)) == [kept]


# Another organization's ids ---------------------------------------------------------------------------


def foreign_choices(cast: Cast) -> dict[str, Any]:
    stranger = make_user("stranger@globex.example", cast.globex)
    return {
        "owner": stranger.pk,
        "case_assignee": cast.outsider.pk,
        "access_users": [stranger.pk],
        "access_roles": [make_role(cast.globex, "Globex Support").pk],
        "lead_source": make_lead_source(cast.globex, "Globex Web").pk,
    }


@pytest.mark.parametrize("field", ["owner", "case_assignee", "access_users", "access_roles", "lead_source"])
def test_creating_with_another_organizations_id_is_refused(cast: Cast, field: str) -> None:
    foreign = foreign_choices(cast)
    body = mailbox_body(process_type="lead", owner=cast.member.pk, lead_source=make_lead_source(cast.acme).pk)
    body[field] = foreign[field]
    response = as_user(cast.org_admin, "POST", mailboxes_path(cast), body)
    assert response.status_code == 422
    assert field in response.json()["errors"]
    assert not Mailbox.objects.filter(email=body["email"]).exists()


@pytest.mark.parametrize("field", ["owner", "case_assignee", "access_users", "access_roles", "lead_source"])
def test_patching_with_another_organizations_id_changes_nothing(cast: Cast, field: str) -> None:
    mailbox = make_mailbox(cast.acme)
    mailbox.access_users.set([cast.member])
    before = (Mailbox.objects.filter(pk=mailbox.pk).values().get(), list(mailbox.access_users.all()))
    path = f"{mailboxes_path(cast)}/{mailbox.pk}"
    response = as_user(
        cast.org_admin, "PATCH", path, {field: foreign_choices(cast)[field], "label": "Changed"}
    )
    assert response.status_code == 422
    assert field in response.json()["errors"]
    after = (Mailbox.objects.filter(pk=mailbox.pk).values().get(), list(mailbox.access_users.all()))
    assert after == before


# The password never comes back ------------------------------------------------------------------------


def test_mailbox_password_appears_in_no_response_body_or_log(
    cast: Cast, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    token = token_for(cast.org_admin)
    path = mailboxes_path(cast)
    bodies: list[bytes] = []

    created = call("POST", path, token, mailbox_body())
    assert created.status_code == 201
    bodies.append(created.content)
    one = f"{path}/{created.json()['id']}"
    for method, target, body, status in [
        ("GET", path, None, 200),
        ("GET", one, None, 200),
        ("PATCH", one, {"label": "Sales desk", "password": SECRET}, 200),
        ("PATCH", one, {"email": "not-an-address", "password": SECRET}, 422),
        ("POST", path, mailbox_body(label="Other", imap_port="x"), 422),
        ("PATCH", one, {"password": SECRET, "imap_port": 99999}, 422),
    ]:
        response = call(method, target, token, body)
        assert response.status_code == status, response.content
        bodies.append(response.content)

    ciphertext = Mailbox.objects.get(pk=created.json()["id"]).password_ciphertext
    assert ciphertext
    logged = "\n".join(f"{record.getMessage()} {record.args!r}" for record in caplog.records)
    for secret in (SECRET.encode(), ciphertext.encode()):
        for content in bodies:
            assert secret not in content
        assert secret not in logged.encode()
        assert secret not in caplog.text.encode()
