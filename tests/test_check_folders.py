"""Saving the retrieved folder tree and choosing folders to sync: choices survive a re-check, folders
deleted on the server are kept and marked gone (their mail must not be lost)."""

from __future__ import annotations

import pytest
from pytest_django.fixtures import Settings

from postroom.mailboxes.models import Mailbox
from postroom.sync.check import UnknownFolders, check_connection, imap_of, save_folders, select_folders
from postroom.sync.models import Folder
from tests.conftest import Cast
from tests.factories import make_mailbox
from tests.servers.dovecot import Credentials, Dovecot
from tests.sync_helpers import tls_mailbox

pytest_plugins = ["tests.servers.fixtures"]


@pytest.fixture
def mailbox(cast: Cast, dovecot: Dovecot, imap_user: Credentials, settings: Settings) -> Mailbox:
    return tls_mailbox(cast.acme, dovecot, imap_user, settings)


def retrieve(mailbox: Mailbox) -> list[Folder]:
    result = check_connection(mailbox)
    assert imap_of(result).ok, imap_of(result).error_message
    return save_folders(mailbox, imap_of(result).folders)


def folder(mailbox: Mailbox, name: str) -> Folder:
    return Folder.objects.get(mailbox=mailbox, name=name)


def test_saved_folders_carry_tree_kinds_and_tenant(
    mailbox: Mailbox, dovecot: Dovecot, imap_user: Credentials
) -> None:
    with dovecot.imap(imap_user.username) as admin:
        admin.create_folder("Kunden/Entwürfe")
    retrieve(mailbox)
    nested = folder(mailbox, "Kunden/Entw&APw-rfe")
    assert (nested.display_name, nested.parent_name, nested.delimiter, nested.kind) == (
        "Kunden/Entwürfe",
        "Kunden",
        "/",
        "drafts",
    )
    assert nested.organization_id == mailbox.organization_id
    assert folder(mailbox, "Sent").kind == "sent" and "\\Sent" in folder(mailbox, "Sent").flags
    assert not any(f.selected for f in Folder.objects.filter(mailbox=mailbox))


def test_recheck_keeps_selection_and_marks_folder_deleted_on_server_as_gone(
    mailbox: Mailbox, dovecot: Dovecot, imap_user: Credentials
) -> None:
    with dovecot.imap(imap_user.username) as admin:
        admin.create_folder("Projects")
    retrieve(mailbox)
    select_folders(mailbox, ["INBOX", "Projects"])
    Folder.objects.filter(mailbox=mailbox, name="Projects").update(uidvalidity=7, last_uid=42)

    with dovecot.imap(imap_user.username) as admin:
        admin.delete_folder("Projects")
    retrieve(mailbox)

    gone = folder(mailbox, "Projects")
    assert not gone.exists_on_server
    assert (gone.selected, gone.uidvalidity, gone.last_uid) == (True, 7, 42)  # kept, nothing lost
    inbox = folder(mailbox, "INBOX")
    assert inbox.selected and inbox.exists_on_server

    with dovecot.imap(imap_user.username) as admin:
        admin.create_folder("Projects")
    retrieve(mailbox)
    assert folder(mailbox, "Projects").exists_on_server


def test_select_folders_ticks_exactly_the_named_folders_without_requiring_sent(mailbox: Mailbox) -> None:
    retrieve(mailbox)
    select_folders(mailbox, ["INBOX", "Archive"])
    chosen = select_folders(mailbox, ["Archive"])
    assert [f.name for f in chosen] == ["Archive"]
    assert set(Folder.objects.filter(mailbox=mailbox, selected=True).values_list("name", flat=True)) == {
        "Archive"
    }


def test_select_folders_with_unknown_name_lists_valid_names_and_changes_nothing(mailbox: Mailbox) -> None:
    retrieve(mailbox)
    select_folders(mailbox, ["INBOX"])
    with pytest.raises(UnknownFolders) as excinfo:
        select_folders(mailbox, ["Archive", "Nope"])
    assert excinfo.value.unknown == ["Nope"]
    assert "Nope" in str(excinfo.value) and "INBOX" in str(excinfo.value) and "Sent" in str(excinfo.value)
    assert list(Folder.objects.filter(mailbox=mailbox, selected=True).values_list("name", flat=True)) == [
        "INBOX"
    ]


def test_folders_are_per_mailbox(cast: Cast, mailbox: Mailbox) -> None:
    retrieve(mailbox)
    other = make_mailbox(cast.globex, imap_host="localhost")
    with pytest.raises(UnknownFolders, match="none yet"):
        select_folders(other, ["INBOX"])
