"""The folder tree reads the same right after Check Connection/Retrieve Folders and after Save Settings:
INBOX, then the special-use folders, then the rest by name, each folder followed by its subfolders."""

from __future__ import annotations

import pytest
from pytest_django.fixtures import Settings as SettingsWrapper

from postroom.mailboxes.models import Mailbox
from postroom.sync.check import check_connection, imap_of, save_folders, stored_folders
from postroom.sync.folders import RawFolder, build_tree, flatten
from postroom.web.folder_selection import rows_from_nodes, rows_from_stored, stored_tree
from tests.conftest import Cast
from tests.servers.dovecot import Credentials, Dovecot
from tests.sync_helpers import tls_mailbox

pytest_plugins = ["tests.servers.fixtures"]


def test_siblings_put_inbox_then_special_use_folders_first_at_every_level() -> None:
    listing = [
        RawFolder("Zeta", "/", ()),
        RawFolder("Trash", "/", ("\\Trash",)),
        RawFolder("[Gmail]", "/", ("\\Noselect",)),
        RawFolder("[Gmail]/Starred", "/", ()),
        RawFolder("[Gmail]/Sent Mail", "/", ("\\Sent",)),
        RawFolder("aardvark", "/", ()),
        RawFolder("Outbox", "/", ("\\Sent",)),
        RawFolder("INBOX", "/", ()),
        RawFolder("Drafts", "/", ("\\Drafts",)),
    ]
    names = [node.name for node in flatten(build_tree(listing))]
    assert names == [
        "INBOX",
        "Drafts",
        "Outbox",
        "Trash",
        "[Gmail]",
        "[Gmail]/Sent Mail",
        "[Gmail]/Starred",
        "aardvark",
        "Zeta",
    ]


@pytest.fixture
def mailbox(cast: Cast, dovecot: Dovecot, imap_user: Credentials, settings: SettingsWrapper) -> Mailbox:
    return tls_mailbox(cast.acme, dovecot, imap_user, settings)


def test_stored_folders_keep_the_order_they_were_retrieved_in(
    mailbox: Mailbox, dovecot: Dovecot, imap_user: Credentials
) -> None:
    with dovecot.imap(imap_user.username) as admin:
        for name in ("Kunden/Zoo", "Kunden/Alt", "Aardvark", "zebra"):
            admin.create_folder(name)
    outcome = imap_of(check_connection(mailbox))
    assert outcome.ok, outcome.error_message
    retrieved = [row.name for row in rows_from_nodes(flatten(outcome.folders), set())]
    save_folders(mailbox, outcome.folders)

    assert [row.name for row in rows_from_stored(stored_tree(mailbox), None)] == retrieved
    assert [folder.name for folder in stored_folders(mailbox)] == retrieved
    assert retrieved[0] == "INBOX"
    assert retrieved.index("Trash") < retrieved.index("Aardvark")  # special-use before the rest
    assert retrieved[-4:] == ["Kunden", "Kunden/Alt", "Kunden/Zoo", "zebra"]
