"""The System Mailbox pages: the seed's form through the views, tenant safety of posted ids, the
password's secrecy, validation beside each field, and deleting a mailbox.
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from postroom.mailboxes.models import Mailbox, ProcessType
from tests.conftest import Cast
from tests.factories import MAILBOX_PASSWORD, make_lead_source, make_mailbox, make_role, make_user
from tests.web_support import client_for, mailbox_form_data


def new_url(cast: Cast) -> str:
    return reverse("mailbox-new", kwargs={"slug": cast.acme.slug})


def edit_url(cast: Cast, mailbox: Mailbox) -> str:
    return reverse("mailbox-edit", kwargs={"slug": cast.acme.slug, "mailbox_id": mailbox.pk})


def config_url(cast: Cast) -> str:
    return reverse("email-configuration", kwargs={"slug": cast.acme.slug})


def snapshot() -> list[dict[str, Any]]:
    """Every mailbox row with its links, to prove a refused post changed nothing."""
    rows = []
    for mailbox in Mailbox.objects.order_by("pk"):
        row = {k: v for k, v in vars(mailbox).items() if not k.startswith("_")}
        row["roles"] = sorted(mailbox.access_roles.values_list("pk", flat=True))
        row["users"] = sorted(mailbox.access_users.values_list("pk", flat=True))
        rows.append(row)
    return rows


def test_admin_creates_a_mailbox_and_lands_on_email_configuration(cast: Cast) -> None:
    source = make_lead_source(cast.acme, "Email")
    data = mailbox_form_data(
        process_type="lead",
        owner=str(cast.member.pk),
        lead_source=str(source.pk),
        access_roles=[str(cast.support_role.pk)],
        access_users=[str(cast.loner.pk)],
    )
    response = client_for(cast.org_admin).post(new_url(cast), data, follow=True)
    assert response.redirect_chain[-1][0] == config_url(cast)
    mailbox = Mailbox.objects.get(organization=cast.acme, label="Sales")
    assert mailbox.get_password() == MAILBOX_PASSWORD
    assert mailbox.process_type == ProcessType.LEAD and mailbox.lead_source == source
    assert list(mailbox.access_roles.all()) == [cast.support_role]
    assert list(mailbox.access_users.all()) == [cast.loner]
    assert b"Mailbox \xe2\x80\x9cSales\xe2\x80\x9d saved." in response.content
    assert b"sales@acme.example.com" in response.content


def test_form_shows_the_seeds_sections_in_order(cast: Cast) -> None:
    body = client_for(cast.org_admin).get(new_url(cast)).content.decode()
    legends = [
        "General",
        "Synchronization Settings",
        "Email Processing",
        "Access Management",
        "Autoresponse Rules",
    ]
    positions = [body.index(f"<legend>{legend}</legend>") for legend in legends]
    assert positions == sorted(positions)
    assert "No autoresponse rules yet." in body
    assert "Save Settings" in body
    assert "Check Connection/Retrieve Folders" in body


def test_processing_settings_are_grouped_for_the_toggle_script(cast: Cast) -> None:
    body = client_for(cast.org_admin).get(new_url(cast)).content.decode()
    assert '<div data-process="lead">' in body  # Source
    assert '<div data-process="lead case">' in body  # Owner
    assert body.count('<div data-process="case">') == 3  # Assign To, Status, Priority
    assert "<script>" not in body and " onclick=" not in body and " onchange=" not in body


@pytest.mark.parametrize(
    ("field", "foreign"),
    [
        ("access_roles", "role"),
        ("access_users", "user"),
        ("owner", "user"),
        ("case_assignee", "user"),
        ("lead_source", "source"),
    ],
)
def test_posting_another_organizations_ids_is_refused(cast: Cast, field: str, foreign: str) -> None:
    mailbox = make_mailbox(cast.acme, "Support")
    foreign_ids = {
        "role": make_role(cast.globex, "Sales").pk,
        "user": make_user("someone@globex.example", cast.globex).pk,
        "source": make_lead_source(cast.globex, "Globex leads").pk,
    }
    value: Any = foreign_ids[foreign]
    if field.startswith("access_"):
        value = [str(value)]
    process = "lead" if field in ("owner", "lead_source") else "case"
    data = mailbox_form_data(label="Support", email=mailbox.email, process_type=process, **{field: value})
    if field != "owner":
        data["owner"] = str(cast.org_admin.pk)
    if process == "lead" and field != "lead_source":
        data["lead_source"] = str(make_lead_source(cast.acme, "Email").pk)
    before = snapshot()

    response = client_for(cast.org_admin).post(edit_url(cast, mailbox), data)

    assert response.status_code == 200
    assert response.context["form"].errors.get(field), response.context["form"].errors
    assert f'id="id_{field}_error"'.encode() in response.content
    assert snapshot() == before


def test_a_refused_new_mailbox_with_a_foreign_owner_creates_nothing(cast: Cast) -> None:
    outsider_member = make_user("x@globex.example", cast.globex)
    data = mailbox_form_data(process_type="case", owner=str(outsider_member.pk))
    response = client_for(cast.org_admin).post(new_url(cast), data)
    assert response.status_code == 200
    assert "owner" in response.context["form"].errors
    assert not Mailbox.objects.exists()


def _assert_secret_absent(content: bytes, ciphertext: str) -> None:
    assert MAILBOX_PASSWORD.encode() not in content
    assert ciphertext.encode() not in content
    assert ciphertext[:24].encode() not in content


def test_password_never_appears_in_pages_or_logs(cast: Cast, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client = client_for(cast.org_admin)
    pages: list[bytes] = []

    created = client.post(new_url(cast), mailbox_form_data(), follow=True)
    pages.append(created.content)
    mailbox = Mailbox.objects.get(label="Sales")
    ciphertext = mailbox.password_ciphertext
    assert ciphertext and mailbox.get_password() == MAILBOX_PASSWORD

    pages.append(client.get(config_url(cast)).content)
    pages.append(client.get(edit_url(cast, mailbox)).content)
    pages.append(client.get(reverse("org-home", kwargs={"slug": cast.acme.slug})).content)
    # An error re-render carrying the password that was just typed.
    errors = client.post(edit_url(cast, mailbox), mailbox_form_data(imap_host="", password=MAILBOX_PASSWORD))
    assert errors.status_code == 200
    pages.append(errors.content)
    # Editing with an empty password keeps the stored one.
    edited = client.post(
        edit_url(cast, mailbox), mailbox_form_data(label="Sales EU", password=""), follow=True
    )
    pages.append(edited.content)
    mailbox.refresh_from_db()
    assert mailbox.label == "Sales EU"
    assert mailbox.password_ciphertext == ciphertext
    assert mailbox.get_password() == MAILBOX_PASSWORD
    pages.append(client.get(edit_url(cast, mailbox)).content)
    pages.append(
        client.get(reverse("mailbox-delete", kwargs={"slug": "acme", "mailbox_id": mailbox.pk})).content
    )

    # A request that Django logs (404 at WARNING) proves the capture is live.
    assert (
        client.get(reverse("mailbox-edit", kwargs={"slug": "acme", "mailbox_id": 987654321})).status_code
        == 404
    )

    for content in pages:
        _assert_secret_absent(content, ciphertext)
    assert b"A password is stored." in pages[-2]
    assert any(record.name == "django.request" for record in caplog.records)
    _assert_secret_absent(caplog.text.encode(), ciphertext)


def test_a_new_password_replaces_the_stored_one(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme, "Support")
    data = mailbox_form_data(label="Support", email=mailbox.email, password="n3w-Secret")
    client_for(cast.org_admin).post(edit_url(cast, mailbox), data)
    mailbox.refresh_from_db()
    assert mailbox.get_password() == "n3w-Secret"


def _field_error(response: Any, field: str) -> str:
    errors = response.context["form"].errors.get(field)
    assert errors, f"expected an error on {field}: {response.context['form'].errors}"
    assert f'id="id_{field}_error"' in response.content.decode()
    assert 'aria-describedby="' in response.content.decode()
    return str(errors[0])


def test_missing_host_is_an_error_beside_the_field_and_typed_values_stay(cast: Cast) -> None:
    data = mailbox_form_data(imap_host="", label="Typed Label", username="typed-user")
    response = client_for(cast.org_admin).post(new_url(cast), data)
    assert response.status_code == 200
    assert "host name" in _field_error(response, "imap_host")
    body = response.content.decode()
    assert 'value="Typed Label"' in body and 'value="typed-user"' in body
    assert 'aria-invalid="true"' in body
    assert MAILBOX_PASSWORD not in body
    assert not Mailbox.objects.exists()


@pytest.mark.parametrize("port", ["0", "70000", "abc"])
def test_bad_port_is_an_error_beside_the_field(cast: Cast, port: str) -> None:
    response = client_for(cast.org_admin).post(new_url(cast), mailbox_form_data(imap_port=port))
    assert response.status_code == 200
    _field_error(response, "imap_port")
    assert not Mailbox.objects.exists()


@pytest.mark.parametrize(("field", "value"), [("label", "SUPPORT"), ("email", "Support@Acme.Example.com")])
def test_duplicate_label_or_email_in_the_same_org_is_refused(cast: Cast, field: str, value: str) -> None:
    make_mailbox(cast.acme, "Support", email="support@acme.example.com")
    response = client_for(cast.org_admin).post(new_url(cast), mailbox_form_data(**{field: value}))
    assert response.status_code == 200
    assert "already has a mailbox" in _field_error(response, field)
    assert f'value="{value}"' in response.content.decode()
    assert Mailbox.objects.filter(organization=cast.acme).count() == 1


def test_same_label_and_email_in_another_org_is_fine(cast: Cast) -> None:
    make_mailbox(cast.globex, "Sales", email="sales@acme.example.com")
    response = client_for(cast.org_admin).post(new_url(cast), mailbox_form_data())
    assert response.status_code == 302
    assert Mailbox.objects.filter(label="Sales").count() == 2


def test_tls_verification_off_is_warned_on_the_form_and_the_list(cast: Cast) -> None:
    client = client_for(cast.org_admin)
    response = client.post(new_url(cast), mailbox_form_data(verify_tls=None))
    assert response.status_code == 302
    mailbox = Mailbox.objects.get(label="Sales")
    assert mailbox.verify_tls is False
    assert "TLS verification off" in client.get(config_url(cast)).content.decode()
    form = client.get(edit_url(cast, mailbox)).content.decode()
    assert 'id="tls-warning" role="note">' in form  # shown, not hidden

    mailbox.verify_tls = True
    mailbox.save()
    assert "TLS verification off" not in client.get(config_url(cast)).content.decode()
    assert 'id="tls-warning" role="note" hidden>' in client.get(edit_url(cast, mailbox)).content.decode()


def test_email_configuration_lists_the_orgs_mailboxes_only(cast: Cast) -> None:
    make_mailbox(cast.acme, "Support", imap_host="imap.acme.example")
    make_mailbox(cast.globex, "Globex Desk")
    body = client_for(cast.configurer).get(config_url(cast)).content.decode()
    assert "Support" in body and "imap.acme.example" in body and "Do Nothing" in body
    assert "Globex Desk" not in body
    assert "Add Mailbox" in body


def test_delete_confirmation_says_what_goes_and_post_deletes(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme, "Support")
    url = reverse("mailbox-delete", kwargs={"slug": "acme", "mailbox_id": mailbox.pk})
    client = client_for(cast.org_admin)
    page = client.get(url).content.decode()
    assert "Support" in page and mailbox.email in page and "not touched" in page
    assert Mailbox.objects.filter(pk=mailbox.pk).exists()
    response = client.post(url)
    assert response.status_code == 302 and response["Location"] == config_url(cast)
    assert not Mailbox.objects.filter(pk=mailbox.pk).exists()


def test_member_home_shows_only_mailboxes_granted_to_them(cast: Cast) -> None:
    granted = make_mailbox(cast.acme, "Granted")
    granted.access_roles.add(cast.support_role)
    make_mailbox(cast.acme, "Hidden")
    body = client_for(cast.member).get(reverse("org-home", kwargs={"slug": "acme"})).content.decode()
    assert "Granted" in body and "Hidden" not in body
    assert "Configure" not in body


def test_anonymous_form_post_changes_nothing(cast: Cast) -> None:
    response = Client().post(new_url(cast), mailbox_form_data())
    assert response.status_code == 302
    assert not Mailbox.objects.exists()
