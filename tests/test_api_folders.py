"""The API's Check Connection/Retrieve Folders and folder choice, against the real Dovecot."""

from __future__ import annotations

import json

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from postroom.mailboxes.models import Mailbox
from postroom.sync.models import Folder
from tests.api_helpers import as_user
from tests.conftest import Cast
from tests.servers.dovecot import Credentials, Dovecot
from tests.sync_helpers import tls_mailbox

pytest_plugins = ["tests.servers.fixtures"]


@pytest.fixture
def mailbox(cast: Cast, dovecot: Dovecot, imap_user: Credentials, settings: SettingsWrapper) -> Mailbox:
    return tls_mailbox(cast.acme, dovecot, imap_user, settings)


def path(mailbox: Mailbox, action: str) -> str:
    return f"/orgs/acme/mailboxes/{mailbox.pk}/{action}"


def test_check_returns_and_stores_the_folder_tree(cast: Cast, mailbox: Mailbox) -> None:
    response = as_user(cast.configurer, "POST", path(mailbox, "check"))
    document = json.loads(response.content)
    assert response.status_code == 200 and document["ok"] is True
    assert document["smtp"] is None and "IMAP4REV1" in document["imap"]["capabilities"]
    kinds = {folder["name"]: folder["kind"] for folder in document["folders"]}
    assert kinds["INBOX"] == "inbox" and kinds["Sent"] == "sent" and kinds["Junk"] == "spam"
    assert Folder.objects.filter(mailbox=mailbox).count() == len(document["folders"])


def test_choosing_folders_ticks_exactly_those(cast: Cast, mailbox: Mailbox) -> None:
    as_user(cast.org_admin, "POST", path(mailbox, "check"))
    response = as_user(cast.org_admin, "PUT", path(mailbox, "folders"), {"sync": ["INBOX", "Archive"]})
    assert response.status_code == 200
    ticked = {folder["name"] for folder in json.loads(response.content) if folder["selected"]}
    assert ticked == {"INBOX", "Archive"}
    listed = json.loads(as_user(cast.org_admin, "GET", path(mailbox, "folders")).content)
    assert {folder["name"] for folder in listed if folder["selected"]} == {"INBOX", "Archive"}


def test_choosing_an_unknown_folder_is_422_and_changes_nothing(cast: Cast, mailbox: Mailbox) -> None:
    as_user(cast.org_admin, "POST", path(mailbox, "check"))
    as_user(cast.org_admin, "PUT", path(mailbox, "folders"), {"sync": ["INBOX"]})
    response = as_user(cast.org_admin, "PUT", path(mailbox, "folders"), {"sync": ["Sent", "Nope"]})
    assert response.status_code == 422
    assert "Nope" in json.loads(response.content)["errors"]["sync"][0]
    assert set(Folder.objects.filter(selected=True).values_list("name", flat=True)) == {"INBOX"}


def test_failed_check_is_200_with_the_reason_and_without_the_password(cast: Cast, mailbox: Mailbox) -> None:
    mailbox.set_password("not-the-password")
    mailbox.save()
    response = as_user(cast.org_admin, "POST", path(mailbox, "check"))
    document = json.loads(response.content)
    assert document["ok"] is False and document["imap"]["error"]["code"] == "login_failed"
    assert b"not-the-password" not in response.content
    assert mailbox.password_ciphertext.encode() not in response.content
