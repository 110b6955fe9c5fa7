"""Helpers for the sync tests: a mailbox on the test Dovecot, seeding by IMAP APPEND, and the
"every message exactly once" checks every sync test ends with."""

from __future__ import annotations

import os
import pwd
import socket
import threading
from collections.abc import Iterable
from datetime import datetime
from email import message_from_bytes

from pytest_django.fixtures import Settings as SettingsWrapper

from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.organizations.models import Organization
from postroom.sync.check import check_connection, imap_of, save_folders, select_folders
from postroom.sync.models import Folder, MailboxSyncState, Placement
from tests.factories import make_mailbox
from tests.servers.dovecot import MAIL_USER, Credentials, Dovecot


def imap_mailbox(
    org: Organization, server: Dovecot, user: Credentials, label: str = "Support", **extra: object
) -> Mailbox:
    """A mailbox on `server` over plain IMAP on loopback (TLS is the check's business, not the sync's)."""
    fields: dict[str, object] = {
        "imap_host": "127.0.0.1",
        "imap_port": server.imap_port,
        "imap_encryption": "none",
        "username": user.username,
        "password": user.password,
    }
    fields.update(extra)
    return make_mailbox(org, label, **fields)


def tls_mailbox(
    org: Organization,
    server: Dovecot,
    user: Credentials,
    settings: SettingsWrapper,
    label: str = "Support",
    **extra: object,
) -> Mailbox:
    """A mailbox on `server` over implicit TLS on its "localhost" certificate, which the settings are made
    to trust: the way Check Connection and the folder retrieval meet a real server."""
    settings.POSTROOM_EXTRA_CA_FILE = str(server.ca_path)
    return imaps_mailbox(org, server, user, label, **extra)


def imaps_mailbox(
    org: Organization, server: Dovecot, user: Credentials, label: str, **extra: object
) -> Mailbox:
    """A mailbox on `server` over implicit TLS ("localhost"), whether or not its CA is trusted."""
    fields: dict[str, object] = {
        "imap_host": "localhost",
        "imap_port": server.imaps_port,
        "imap_encryption": "ssl",
        "username": user.username,
        "password": user.password,
    }
    fields.update(extra)
    return make_mailbox(org, label, **fields)


def tick(mailbox: Mailbox, *names: str) -> None:
    """Retrieve the folders (Check Connection) and tick `names` for sync."""
    outcome = imap_of(check_connection(mailbox))
    assert outcome.ok, outcome.error_message
    save_folders(mailbox, outcome.folders)
    select_folders(mailbox, list(names))


def append(
    server: Dovecot,
    user: Credentials,
    folder: str,
    raws: Iterable[bytes],
    flags: tuple[str, ...] = (),
    when: datetime | None = None,
) -> list[int]:
    """APPEND each message through the admin-side client; returns the UIDs the server gave them."""
    uids: list[int] = []
    with server.imap(user.username) as admin:
        for raw in raws:
            response = admin.append(folder, raw, flags=flags, msg_time=when)
            uids.append(_appended_uid(response))
    return uids


def _appended_uid(response: bytes) -> int:
    # "[APPENDUID <uidvalidity> <uid>] Append completed."
    return int(response.split(b"]")[0].split()[-1])


def server_flags(server: Dovecot, user: Credentials, folder: str) -> dict[int, set[str]]:
    with server.imap(user.username) as admin:
        admin.select_folder(folder, readonly=True)
        fetched = admin.fetch(admin.search(["ALL"]), ["FLAGS"])
    return {uid: {f.decode() for f in data[b"FLAGS"]} for uid, data in fetched.items()}


def message_id_of(raw: bytes) -> str:
    return str(message_from_bytes(raw)["Message-ID"]).strip("<>").lower()


def folder(mailbox: Mailbox, name: str) -> Folder:
    return Folder.objects.get(mailbox=mailbox, name=name)


def placed_message_ids(mailbox: Mailbox, name: str) -> list[str]:
    """Message-IDs placed in the folder, sorted (duplicates would show twice)."""
    rows = Placement.objects.filter(mailbox=mailbox, folder__name=name)
    return sorted(rows.values_list("message__message_id", flat=True))


def assert_exactly_once(mailbox: Mailbox, name: str, raws: Iterable[bytes]) -> None:
    """The folder holds exactly these messages, one placement each, and the organization has no
    duplicate Message rows for them; the checkpoint covers every placement."""
    expected = sorted(message_id_of(raw) for raw in raws)
    assert placed_message_ids(mailbox, name) == expected
    stored = Message.objects.filter(organization=mailbox.organization, message_id__in=expected)
    assert stored.count() == len(set(expected))
    top = max(
        Placement.objects.filter(mailbox=mailbox, folder__name=name).values_list("uid", flat=True), default=0
    )
    assert folder(mailbox, name).last_uid >= top


def state(mailbox: Mailbox) -> MailboxSyncState:
    return MailboxSyncState.objects.get(mailbox=mailbox)


class CuttingProxy:
    """A TCP proxy on loopback that forwards to `target_port` and, once `cut_after` bytes went from the
    server to the client, drops both connections (a network failure mid-FETCH). `cut_after=None`
    forwards everything."""

    def __init__(self, target_port: int, cut_after: int | None) -> None:
        self.target_port = target_port
        self.cut_after = cut_after
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self.cuts = 0
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self) -> None:
        self._listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(("127.0.0.1", self.target_port))
            threading.Thread(target=self._pipe, args=(client, upstream, None), daemon=True).start()
            threading.Thread(target=self._pipe, args=(upstream, client, self.cut_after), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket, limit: int | None) -> None:
        sent = 0
        try:
            while data := source.recv(65536):
                if limit is not None and sent + len(data) > limit:
                    sink.sendall(data[: limit - sent])
                    self.cuts += 1
                    break
                sink.sendall(data)
                sent += len(data)
        except OSError:
            pass
        for sock in (source, sink):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            sock.close()


def seed_maildir(server: Dovecot, user: Credentials, raws: Iterable[bytes], folder_dir: str = "") -> int:
    """Write messages straight into the user's Maildir (`folder_dir` "" is INBOX, else ".Name"): far
    faster than APPEND for thousands of messages. Dovecot assigns UIDs when it next looks."""
    with server.imap(user.username) as admin:  # the first login creates the Maildir
        admin.noop()
    root = server.root / "mail" / user.username / "Maildir"
    target = (root / folder_dir if folder_dir else root) / "new"
    target.mkdir(parents=True, exist_ok=True)
    owner = pwd.getpwnam(MAIL_USER)
    count = 0
    for count, raw in enumerate(raws, start=1):
        data = raw.replace(b"\r\n", b"\n")  # Maildir files use LF; S= is the file's own size
        path = target / f"{1_700_000_000 + count}.M{count}P{os.getpid()}.postroom,S={len(data)}"
        path.write_bytes(data)
        os.chown(path, owner.pw_uid, owner.pw_gid)
    for directory in (root, target.parent, target):
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    return count
