"""Check Connection/Retrieve Folders in the mailbox form, against the real Dovecot: the check uses the
values typed in the form, stores nothing, and Save Settings stores the tree and the ticked folders."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse
from pytest_django.fixtures import Settings as SettingsWrapper

from postroom.mailboxes.models import Mailbox
from postroom.sync.models import Folder
from tests.conftest import Cast
from tests.factories import make_mailbox
from tests.servers.dovecot import Credentials, Dovecot
from tests.web_support import client_for, mailbox_form_data

pytest_plugins = ["tests.servers.fixtures"]
HTMX = {"HX-Request": "true"}


@pytest.fixture(autouse=True)
def trust_test_ca(settings: SettingsWrapper, dovecot: Dovecot) -> None:
    settings.POSTROOM_EXTRA_CA_FILE = str(dovecot.ca_path)


def server_fields(dovecot: Dovecot, user: Credentials, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "imap_host": "localhost",
        "imap_port": str(dovecot.imaps_port),
        "imap_encryption": "ssl",
        "username": user.username,
        "password": user.password,
    }
    return mailbox_form_data(**(fields | overrides))


def signed_tree(body: str) -> str:
    match = re.search(r'name="retrieved_folders" value="([^"]+)"', body)
    assert match, body
    return match.group(1)


def test_check_then_save_stores_the_tree_and_the_ticked_folders(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    client = client_for(cast.org_admin)
    data = server_fields(dovecot, imap_user)
    check = client.post(reverse("mailbox-check-new", kwargs={"slug": "acme"}), data, headers=HTMX)
    body = check.content.decode()
    assert check.status_code == 200 and "connected and logged in" in body
    assert 'value="INBOX"' in body and 'value="Sent"' in body
    assert Folder.objects.count() == 0 and Mailbox.objects.count() == 0  # the check stores nothing

    saved = client.post(
        reverse("mailbox-new", kwargs={"slug": "acme"}),
        data | {"retrieved_folders": signed_tree(body), "folders_shown": "1", "sync_folders": ["INBOX"]},
    )
    assert saved.status_code == 302
    mailbox = Mailbox.objects.get(organization=cast.acme)
    assert set(Folder.objects.filter(mailbox=mailbox).values_list("name", flat=True)) >= {"INBOX", "Sent"}
    assert list(Folder.objects.filter(mailbox=mailbox, selected=True).values_list("name", flat=True)) == [
        "INBOX"
    ]


def test_check_of_a_saved_mailbox_uses_the_stored_password_and_keeps_ticks(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    mailbox = make_mailbox(
        cast.acme,
        imap_host="localhost",
        imap_port=dovecot.imaps_port,
        username=imap_user.username,
        password=imap_user.password,
    )
    Folder.objects.create(organization=cast.acme, mailbox=mailbox, name="Archive", display_name="Archive")
    Folder.objects.filter(mailbox=mailbox).update(selected=True)
    data = server_fields(dovecot, imap_user, password="", label=mailbox.label, email=mailbox.email)
    url = reverse("mailbox-check", kwargs={"slug": "acme", "mailbox_id": mailbox.pk})
    body = client_for(cast.org_admin).post(url, data, headers=HTMX).content.decode()
    assert "connected and logged in" in body
    assert re.search(r'value="Archive" id="folder-\d+" checked', body), body


def test_wrong_password_is_named_and_never_echoed(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    data = server_fields(dovecot, imap_user, password="Wrong-pass-123")
    response = client_for(cast.org_admin).post(
        reverse("mailbox-check-new", kwargs={"slug": "acme"}), data, headers=HTMX
    )
    assert b"login_failed" in response.content
    assert b"Wrong-pass-123" not in response.content and b"retrieved_folders" not in response.content


def test_check_without_htmx_renders_the_whole_form_without_the_password(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    data = server_fields(dovecot, imap_user)
    response = client_for(cast.org_admin).post(reverse("mailbox-check-new", kwargs={"slug": "acme"}), data)
    body = response.content.decode()
    assert "Save Settings" in body and 'value="INBOX"' in body
    assert imap_user.password not in body


def test_a_tampered_folder_list_is_refused_and_nothing_is_saved(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    client = client_for(cast.org_admin)
    data = server_fields(dovecot, imap_user)
    body = client.post(
        reverse("mailbox-check-new", kwargs={"slug": "acme"}), data, headers=HTMX
    ).content.decode()
    forged = signed_tree(body)[:-3] + "abc"
    response = client.post(
        reverse("mailbox-new", kwargs={"slug": "acme"}),
        data | {"retrieved_folders": forged, "folders_shown": "1", "sync_folders": ["INBOX"]},
    )
    assert response.status_code == 200 and b"Check Connection/Retrieve Folders again" in response.content
    assert Mailbox.objects.count() == 0 and Folder.objects.count() == 0


def test_ticking_a_folder_that_was_not_retrieved_is_refused(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    Folder.objects.create(organization=cast.acme, mailbox=mailbox, name="INBOX", display_name="INBOX")
    data = mailbox_form_data(label=mailbox.label, email=mailbox.email, password="")
    response = client_for(cast.org_admin).post(
        reverse("mailbox-edit", kwargs={"slug": "acme", "mailbox_id": mailbox.pk}),
        data | {"folders_shown": "1", "sync_folders": ["INBOX", "Secret"]},
    )
    assert response.status_code == 200 and b"cannot be synced: Secret" in response.content
    assert not Folder.objects.filter(selected=True).exists()


def test_unticking_every_stored_folder_stops_syncing_them_and_keeps_them(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    Folder.objects.create(
        organization=cast.acme, mailbox=mailbox, name="INBOX", display_name="INBOX", selected=True
    )
    data = mailbox_form_data(label=mailbox.label, email=mailbox.email, password="")
    response = client_for(cast.org_admin).post(
        reverse("mailbox-edit", kwargs={"slug": "acme", "mailbox_id": mailbox.pk}),
        data | {"folders_shown": "1"},
    )
    assert response.status_code == 302
    assert Folder.objects.filter(mailbox=mailbox).count() == 1
    assert not Folder.objects.filter(selected=True).exists()
