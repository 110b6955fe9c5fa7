"""Folder names, kinds and tree: pure functions, checked with names real servers send."""

from __future__ import annotations

import pytest

from postroom.sync.folders import RawFolder, build_tree, classify, decode_mailbox_name, flatten


@pytest.mark.parametrize(
    ("raw", "decoded"),
    [
        ("Entw&APw-rfe", "Entwürfe"),
        ("&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-", "Отправленные"),
        ("&AMk-l&AOk-ments envoy&AOk-s", "Éléments envoyés"),
        ("Tom &- Jerry", "Tom & Jerry"),
        ("INBOX", "INBOX"),
        ("&ZeVnLIqe-", "日本語"),
    ],
)
def test_modified_utf7_names_are_decoded(raw: str, decoded: str) -> None:
    assert decode_mailbox_name(raw) == decoded


def test_malformed_modified_utf7_name_is_kept_as_sent() -> None:
    assert decode_mailbox_name("Broken &AP") == "Broken &AP"


@pytest.mark.parametrize(
    ("name", "flags", "kind"),
    [
        ("Gesendet", ("\\HasNoChildren",), "sent"),
        ("Sent Items", (), "sent"),
        ("INBOX/Gesendete Objekte", (), "sent"),
        ("Éléments envoyés", (), "sent"),
        ("Posta inviata", (), "sent"),
        ("Отправленные", (), "sent"),
        ("Entwürfe", (), "drafts"),
        ("Borradores", (), "drafts"),
        ("Deleted Items", (), "trash"),
        ("Papierkorb", (), "trash"),
        ("Prullenbak", (), "trash"),
        ("Junk E-mail", (), "spam"),
        ("Courrier indésirable", (), "spam"),
        ("Bulk Mail", (), "spam"),
        ("Archiv", (), "archive"),
        ("inbox", (), "inbox"),
        ("Projects", (), "other"),
        # SPECIAL-USE wins over a misleading name.
        ("Sent", ("\\Archive",), "archive"),
        ("Stuff", ("\\Junk",), "spam"),
    ],
)
def test_kind_comes_from_special_use_first_then_names(name: str, flags: tuple[str, ...], kind: str) -> None:
    assert classify(name, "/", flags) == kind


def test_tree_keeps_hierarchy_delimiter_and_decoded_labels() -> None:
    listing = [
        RawFolder("Projects/Entw&APw-rfe", "/", ("\\HasNoChildren",)),
        RawFolder("INBOX", "/", ()),
        RawFolder("Projects", "/", ("\\Noselect", "\\HasChildren")),
        RawFolder("Orphan/Child", "/", ()),  # parent not listed: shown as a root, not lost
    ]
    tree = build_tree(listing)
    assert [node.name for node in tree] == ["INBOX", "Orphan/Child", "Projects"]
    projects = tree[2]
    assert not projects.selectable
    [child] = projects.children
    assert (child.name, child.display_name, child.label, child.parent_name, child.kind) == (
        "Projects/Entw&APw-rfe",
        "Projects/Entwürfe",
        "Entwürfe",
        "Projects",
        "drafts",
    )
    assert len(flatten(tree)) == 4
    assert tree[0].to_dict()["kind"] == "inbox"
