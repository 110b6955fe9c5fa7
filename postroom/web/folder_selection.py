"""The folder part of the mailbox form: the tree the admin ticks folders in.

Check Connection/Retrieve Folders changes nothing stored: it returns the server's tree signed into a
hidden field, and Save Settings stores that tree and the ticked folders together with the rest of the
mailbox, in one transaction. Without a fresh check, the folders stored by an earlier check are shown.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.core import signing
from django.http import QueryDict

from postroom.mailboxes.models import Mailbox
from postroom.sync.check import save_folders, select_folders, stored_folders
from postroom.sync.folders import FolderNode, flatten
from postroom.sync.models import Folder

TREE_FIELD = "retrieved_folders"
TICK_FIELD = "sync_folders"
SHOWN_FIELD = "folders_shown"
_SALT = "postroom.web.folders"
_MAX_AGE = 6 * 3600  # a form left open for a working day still saves


@dataclass
class FolderRow:
    """One line of the tree as the template draws it."""

    name: str
    label: str
    depth: int
    kind: str
    selectable: bool
    ticked: bool
    gone: bool = False


def sign_tree(tree: list[FolderNode]) -> str:
    return signing.dumps([node.to_dict() for node in flatten(tree)], salt=_SALT, compress=True)


def unsign_tree(token: str) -> list[FolderNode]:
    """Raises signing.BadSignature (also for an expired token)."""
    nodes = signing.loads(token, salt=_SALT, max_age=_MAX_AGE)
    return [FolderNode.from_dict(node | {"children": []}) for node in nodes]


def rows_from_nodes(nodes: list[FolderNode], ticked: set[str]) -> list[FolderRow]:
    return [
        FolderRow(
            name=node.name,
            label=node.label,
            depth=_depth(node.name, node.delimiter),
            kind=node.kind,
            selectable=node.selectable,
            ticked=node.name in ticked,
        )
        for node in nodes
    ]


def rows_from_stored(folders: list[Folder], ticked: set[str] | None) -> list[FolderRow]:
    return [
        FolderRow(
            name=folder.name,
            label=folder.display_name.rsplit(folder.delimiter, 1)[-1]
            if folder.delimiter
            else folder.display_name,
            depth=_depth(folder.name, folder.delimiter),
            kind=folder.kind,
            selectable=folder.selectable and folder.exists_on_server,
            ticked=folder.selected if ticked is None else folder.name in ticked,
            gone=not folder.exists_on_server,
        )
        for folder in folders
    ]


def _depth(name: str, delimiter: str | None) -> int:
    return name.count(delimiter) if delimiter else 0


def stored_tree(mailbox: Mailbox | None) -> list[Folder]:
    if mailbox is None or mailbox.pk is None:
        return []
    return stored_folders(mailbox)


@dataclass
class FolderSelection:
    """What the posted form says about folders, validated against the retrieved or stored tree."""

    mailbox: Mailbox | None
    retrieved: list[FolderNode] | None = None
    ticked: set[str] = field(default_factory=set)
    shown: bool = False
    errors: list[str] = field(default_factory=list)
    token: str = ""

    @classmethod
    def from_post(cls, data: QueryDict | None, mailbox: Mailbox | None) -> FolderSelection:
        selection = cls(mailbox=mailbox)
        if data is None:
            return selection
        selection.shown = data.get(SHOWN_FIELD) == "1"
        selection.ticked = set(data.getlist(TICK_FIELD))
        selection.token = data.get(TREE_FIELD, "")
        if selection.token:
            try:
                selection.retrieved = unsign_tree(selection.token)
            except signing.BadSignature:
                selection.token = ""
                selection.errors.append(
                    "The retrieved folder list has expired. Click Check Connection/Retrieve Folders again."
                )
        selection._validate()
        return selection

    def _known(self) -> dict[str, bool]:
        """Folder name -> may be ticked."""
        if self.retrieved is not None:
            return {node.name: node.selectable for node in self.retrieved}
        return {f.name: f.selectable and f.exists_on_server for f in stored_tree(self.mailbox)}

    def _validate(self) -> None:
        known = self._known()
        unknown = sorted(name for name in self.ticked if not known.get(name, False))
        if unknown:
            self.errors.append(f"These folders cannot be synced: {', '.join(unknown)}.")

    def is_valid(self) -> bool:
        return not self.errors

    def rows(self) -> list[FolderRow]:
        if self.retrieved is not None:
            return rows_from_nodes(self.retrieved, self.ticked)
        return rows_from_stored(stored_tree(self.mailbox), self.ticked if self.shown else None)

    def context(self) -> dict[str, Any]:
        return {"folder_rows": self.rows(), "folder_token": self.token, "folder_errors": self.errors}

    def apply(self, mailbox: Mailbox) -> None:
        """Store the retrieved tree (if any) and the ticked folders. Call inside the mailbox's transaction."""
        if self.retrieved is not None:
            save_folders(mailbox, self.retrieved)
        if self.shown and (self.retrieved is not None or stored_tree(mailbox)):
            select_folders(mailbox, sorted(self.ticked))
