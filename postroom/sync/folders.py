"""Folder names and kinds: pure functions, no I/O.

decode_mailbox_name: IMAP's modified UTF-7 (RFC 3501 5.1.3) to text. build_tree: a LIST answer to a
tree keeping delimiters and hierarchy. classify: a folder's kind, from SPECIAL-USE flags first, then
INBOX by name, then common names in several languages.
"""

from __future__ import annotations

import base64
import binascii
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar


@dataclass(frozen=True)
class RawFolder:
    """One LIST answer: `name` exactly as the server sent it (modified UTF-7; what SELECT takes)."""

    name: str
    delimiter: str | None
    flags: tuple[str, ...]


INBOX, SENT, DRAFTS, TRASH, SPAM, ARCHIVE, OTHER = (
    "inbox",
    "sent",
    "drafts",
    "trash",
    "spam",
    "archive",
    "other",
)

SPECIAL_USE_KINDS = {
    "\\sent": SENT,
    "\\drafts": DRAFTS,
    "\\trash": TRASH,
    "\\junk": SPAM,
    "\\archive": ARCHIVE,
    "\\inbox": INBOX,  # XLIST (old Gmail)
    "\\spam": SPAM,  # XLIST
}

_NAMES = {
    SENT: """sent; sent items; sent mail; sent messages; gesendet; gesendete objekte; gesendete elemente;
        envoyés; éléments envoyés; messages envoyés; enviados; elementos enviados; posta inviata;
        inviata; verzonden; verzonden items; отправленные; wysłane; skickat; sendt""",
    DRAFTS: """drafts; draft; entwürfe; brouillons; borradores; bozze; concepten; черновики; kopie robocze;
        utkast""",
    TRASH: """trash; deleted items; deleted messages; deleted; bin; papierkorb; gelöschte objekte;
        gelöschte elemente; corbeille; éléments supprimés; papelera; elementos eliminados; cestino;
        posta eliminata; prullenbak; verwijderde items; удаленные; корзина; kosz""",
    SPAM: """spam; junk; junk e-mail; junk email; junk mail; bulk mail; spamverdacht; courrier indésirable;
        pourriel; correo no deseado; posta indesiderata; ongewenste e-mail; спам; nevyžádaná pošta""",
    ARCHIVE: """archive; archives; archived; all mail; archiv; archivo; archivio; archief; архив""",
}
NAME_KINDS = {
    unicodedata.normalize("NFC", name.strip()): kind
    for kind, names in _NAMES.items()
    for name in names.split(";")
    if name.strip()
}


def decode_mailbox_name(raw: str) -> str:
    """Modified UTF-7 to text; a malformed name comes back unchanged rather than failing the listing."""
    out: list[str] = []
    i = 0
    while i < len(raw):
        amp = raw.find("&", i)
        if amp < 0:
            out.append(raw[i:])
            break
        end = raw.find("-", amp)
        if end < 0:
            return raw
        out.append(raw[i:amp])
        chunk = raw[amp + 1 : end]
        if chunk:
            decoded = _decode_base64_utf16(chunk)
            if decoded is None:
                return raw
            out.append(decoded)
        else:
            out.append("&")
        i = end + 1
    return "".join(out)


def _decode_base64_utf16(chunk: str) -> str | None:
    padded = chunk.replace(",", "/") + "=" * (-len(chunk) % 4)
    try:
        return base64.b64decode(padded, validate=True).decode("utf-16-be")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def classify(name: str, delimiter: str | None, flags: tuple[str, ...] | list[str]) -> str:
    """The kind of a folder: SPECIAL-USE flags win, then INBOX, then its last name component's meaning."""
    for flag in flags:
        kind = SPECIAL_USE_KINDS.get(flag.lower())
        if kind:
            return kind
    if name.upper() == "INBOX":
        return INBOX
    leaf = name.rsplit(delimiter, 1)[-1] if delimiter else name
    leaf = unicodedata.normalize("NFC", leaf.strip().lower())
    if leaf.startswith("[") and "]" in leaf:  # "[Gmail]/Sent Mail" style prefixes are already split off
        leaf = leaf.split("]", 1)[1].strip()
    return NAME_KINDS.get(leaf, OTHER)


@dataclass
class FolderNode:
    """One folder of the tree. `name` is raw (for SELECT), `display_name` decoded, `label` the last
    component of `display_name`."""

    name: str
    display_name: str
    label: str
    delimiter: str | None
    parent_name: str | None
    flags: list[str]
    kind: str
    selectable: bool
    children: list[FolderNode] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "display_name": self.display_name,
            "label": self.label,
            "delimiter": self.delimiter,
            "parent_name": self.parent_name,
            "flags": list(self.flags),
            "kind": self.kind,
            "selectable": self.selectable,
            "children": [child.to_dict() for child in self.children],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FolderNode:
        """The inverse of `to_dict` (used to carry a retrieved tree through a signed form field)."""
        return cls(
            name=str(data["name"]),
            display_name=str(data["display_name"]),
            label=str(data["label"]),
            delimiter=data["delimiter"],
            parent_name=data["parent_name"],
            flags=[str(flag) for flag in data["flags"]],
            kind=str(data["kind"]),
            selectable=bool(data["selectable"]),
            children=[cls.from_dict(child) for child in data.get("children", [])],
        )

    def walk(self) -> list[FolderNode]:
        return [self, *[node for child in self.children for node in child.walk()]]


def make_node(folder: RawFolder) -> FolderNode:
    display = decode_mailbox_name(folder.name)
    delimiter = folder.delimiter
    parent = folder.name.rsplit(delimiter, 1)[0] if delimiter and delimiter in folder.name else None
    flags = list(folder.flags)
    return FolderNode(
        name=folder.name,
        display_name=display,
        label=display.rsplit(delimiter, 1)[-1] if delimiter else display,
        delimiter=delimiter,
        parent_name=parent,
        flags=flags,
        kind=classify(display, delimiter, flags),
        selectable=not any(f.lower() in {"\\noselect", "\\nonexistent"} for f in flags),
    )


def build_tree(folders: list[RawFolder]) -> list[FolderNode]:
    """Roots of the folder tree, in `tree_order`. A folder whose parent was not listed (servers may omit
    it) becomes a root rather than disappearing."""
    nodes = {folder.name: make_node(folder) for folder in folders}
    roots: list[FolderNode] = []
    for node in tree_order(nodes.values()):  # parents come before their children
        parent = nodes.get(node.parent_name) if node.parent_name else None
        (parent.children if parent else roots).append(node)
    return roots


class ListedFolder(Protocol):
    """What ordering needs of a folder: a retrieved `FolderNode` and a stored `Folder` both have it."""

    @property
    def name(self) -> str: ...
    @property
    def display_name(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def parent_name(self) -> str | None: ...


_Listed = TypeVar("_Listed", bound=ListedFolder)

# Among siblings, INBOX and the special-use folders come first, in the order mail clients show them.
_KIND_RANK = {INBOX: 0, DRAFTS: 1, SENT: 2, ARCHIVE: 3, SPAM: 4, TRASH: 5}


def _sibling_key(folder: ListedFolder) -> tuple[int, str, str]:
    rank = 0 if folder.name.upper() == "INBOX" else _KIND_RANK.get(folder.kind, len(_KIND_RANK))
    return (rank, folder.display_name.lower(), folder.name)


def tree_order(folders: Iterable[_Listed]) -> list[_Listed]:
    """Folders in the order the tree shows them, so a just-retrieved tree and the stored one read the
    same: each folder followed by its descendants, siblings by `_sibling_key`. A folder whose parent is
    not among them counts as a root."""
    by_name = {folder.name: folder for folder in folders}
    children: dict[str | None, list[_Listed]] = {}
    for folder in by_name.values():
        parent = folder.parent_name if folder.parent_name in by_name else None
        children.setdefault(parent, []).append(folder)
    ordered: list[_Listed] = []
    pending = sorted(children.get(None, []), key=_sibling_key, reverse=True)
    while pending:  # depth first, without recursion: folder trees can be deep
        folder = pending.pop()
        ordered.append(folder)
        pending.extend(sorted(children.get(folder.name, []), key=_sibling_key, reverse=True))
    return ordered


def flatten(tree: list[FolderNode]) -> list[FolderNode]:
    return [node for root in tree for node in root.walk()]
