"""The only door to IMAP: the one module that imports imapclient and imaplib.

`connect(endpoint, deadline)` returns a logged-in `ImapConnection`; every library, socket and TLS error
is translated into `postroom.sync.errors`. LOGIN is never logged: imapclient redacts it from its protocol
log, and every message we build from server output is scrubbed of the password as well.
"""

from __future__ import annotations

import imaplib
import re
import socket
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from types import TracebackType

from imapclient import IMAPClient
from imapclient.exceptions import CapabilityError, LoginError

from postroom.sync import net
from postroom.sync.errors import LoginFailed, MailServerError, MissingCapability, ProtocolError, scrub
from postroom.sync.folders import RawFolder


class _PreconnectedIMAP4(imaplib.IMAP4):
    """imaplib over a socket we opened ourselves (after the allow-list, to the vetted address)."""

    def __init__(self, host: str, port: int, sock: socket.socket) -> None:
        self._preconnected = sock
        super().__init__(host, port)

    def _create_socket(self, timeout: float | None = None) -> socket.socket:
        return self._preconnected


class _Client(IMAPClient):  # type: ignore[misc]  # imapclient ships no type information
    def __init__(
        self, host: str, port: int, sock: socket.socket, *, implicit_tls: bool, timeout: float
    ) -> None:
        self._preconnected = sock
        super().__init__(host, port, ssl=implicit_tls, timeout=timeout)

    def _create_IMAP4(self) -> imaplib.IMAP4:  # noqa: N802 - imapclient's hook
        return _PreconnectedIMAP4(self.host, self.port, self._preconnected)


# How long one sync command (EXAMINE, SEARCH, one FETCH batch) may stay silent before we give up.
COMMAND_TIMEOUT = 120.0


@dataclass(frozen=True)
class FolderStatus:
    """What EXAMINE says about a folder. `highest_modseq` is None without CONDSTORE."""

    uidvalidity: int
    uidnext: int | None
    exists: int
    highest_modseq: int | None


@dataclass(frozen=True)
class FetchedMessage:
    """One message of a bulk FETCH: its UID, server flags, INTERNALDATE, RFC822.SIZE and raw bytes."""

    uid: int
    flags: tuple[str, ...]
    internal_date: datetime | None
    size: int
    raw: bytes
    modseq: int | None


@dataclass(frozen=True)
class FlagState:
    uid: int
    flags: tuple[str, ...]
    modseq: int | None


class ImapConnection:
    """A logged-in IMAP session. `client` is the underlying IMAPClient for the sync engine (with
    `folder_encode` off: folder names go in and out raw, as stored in Folder.name)."""

    def __init__(self, client: IMAPClient, endpoint: net.Endpoint, deadline: net.Deadline) -> None:
        self.client = client
        self.endpoint = endpoint
        self.deadline = deadline

    def __enter__(self) -> ImapConnection:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def capabilities(self) -> list[str]:
        with self._translated():
            return sorted(_text(cap) for cap in self.client.capabilities())

    def has_capability(self, name: str) -> bool:
        return name.upper() in self.capabilities()

    def list_folders(self) -> list[RawFolder]:
        """Every folder (LIST "" "*"); special-use flags come with it on servers that offer them."""
        with self._translated():
            listing = self.client.list_folders()
        return [
            RawFolder(_text(name), _text(delimiter) if delimiter else None, tuple(_text(f) for f in flags))
            for flags, delimiter, name in listing
        ]

    # --- Read-only access for the sync engine. Nothing here changes flags or removes mail on the server.

    def enable_condstore(self) -> bool:
        """ENABLE CONDSTORE when offered, so EXAMINE reports HIGHESTMODSEQ; False when not available."""
        if not (self.has_capability("CONDSTORE") and self.has_capability("ENABLE")):
            return False
        with self._translated(COMMAND_TIMEOUT):
            enabled = self.client.enable("CONDSTORE")
        return any(_text(item).upper() == "CONDSTORE" for item in enabled)

    def examine(self, name: str) -> FolderStatus:
        """EXAMINE (SELECT read-only) the folder with raw name `name`."""
        with self._translated(COMMAND_TIMEOUT):
            response = self.client.select_folder(name, readonly=True)
        uidvalidity = response.get(b"UIDVALIDITY")
        if uidvalidity is None:
            raise ProtocolError(f"The {self.endpoint.where} did not report UIDVALIDITY for a folder.")
        return FolderStatus(
            uidvalidity=int(uidvalidity),
            uidnext=_int_or_none(response.get(b"UIDNEXT")),
            exists=int(response.get(b"EXISTS", 0)),
            highest_modseq=_int_or_none(response.get(b"HIGHESTMODSEQ")),
        )

    def search_uids(self, *, above: int = 0, since: date | None = None) -> list[int]:
        """UIDs of the examined folder greater than `above` (and with INTERNALDATE on or after `since`),
        ascending."""
        criteria: list[object] = ["UID", f"{above + 1}:*"]
        if since is not None:
            criteria += ["SINCE", since]
        with self._translated(COMMAND_TIMEOUT):
            found = self.client.search(criteria)
        # "n:*" always matches the highest UID, even when it is below n.
        return sorted(int(uid) for uid in found if int(uid) > above)

    def all_uids(self) -> set[int]:
        """Every UID in the examined folder (UID SEARCH ALL), to notice server-side deletions."""
        with self._translated(COMMAND_TIMEOUT):
            return {int(uid) for uid in self.client.search(["ALL"])}

    def fetch_messages(self, uids: Sequence[int]) -> list[FetchedMessage]:
        """BODY.PEEK[] (never sets \\Seen) with UID, FLAGS, INTERNALDATE and RFC822.SIZE for `uids`.

        Goes through the imaplib object beneath IMAPClient and parses the responses here: IMAPClient's
        own FETCH parser is several times slower than the network. UIDs the server no longer has are
        simply absent from the result."""
        if not uids:
            return []
        imap = self.client._imap
        items = "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])"
        with self._translated(COMMAND_TIMEOUT), _quiet(imap):
            imap.untagged_responses.clear()  # unsolicited leftovers would otherwise pile up
            typ, data = imap.uid("FETCH", _uid_set(uids), items)
            if typ != "OK":
                raise ProtocolError(f"The {self.endpoint.where} refused to send messages: {_said(data)}")
        wanted = set(uids)
        return [message for message in _parse_fetch(data) if message.uid in wanted]

    def fetch_flags(self, uids: Sequence[int] | str, *, changed_since: int | None = None) -> list[FlagState]:
        """FLAGS (and MODSEQ with CONDSTORE) of `uids` (a list, or a UID set such as "1:*"); with
        `changed_since`, only messages whose flags changed after that mod-sequence (CHANGEDSINCE)."""
        if isinstance(uids, str):
            uid_set = uids
        elif not uids:
            return []
        else:
            uid_set = _uid_set(uids)
        extra = [f"(CHANGEDSINCE {changed_since})"] if changed_since is not None else []
        imap = self.client._imap
        with self._translated(COMMAND_TIMEOUT), _quiet(imap):
            imap.untagged_responses.clear()
            typ, data = imap.uid("FETCH", uid_set, "(UID FLAGS)", *extra)
            if typ != "OK":
                raise ProtocolError(f"The {self.endpoint.where} refused to send flags: {_said(data)}")
        states = {}
        for element in data:
            line = element[0] if isinstance(element, tuple) else element
            if not isinstance(line, bytes) or (uid := _UID.search(line)) is None:
                continue
            flags = _FLAGS.search(line)
            modseq = _MODSEQ.search(line)
            states[int(uid.group(1))] = FlagState(
                uid=int(uid.group(1)),
                flags=_flags(flags.group(1)) if flags else (),
                modseq=int(modseq.group(1)) if modseq else None,
            )
        return list(states.values())

    def idle_until_change(self, seconds: float, stop: threading.Event | None = None) -> bool:
        """IMAP IDLE on the examined folder for at most `seconds`: True as soon as the server reports a
        change (new mail, expunge, flags), False on timeout or once `stop` is set. Keep-alive lines
        ("* OK Still here") do not end the wait. Call only when `has_capability("IDLE")`.

        The wait is checked in slices of IDLE_SLICE_SECONDS so that a stopping worker (or a test
        tearing down) is not held for minutes by a quiet mailbox."""
        deadline = time.monotonic() + seconds
        with self._translated(seconds + COMMAND_TIMEOUT):
            self.client.idle()
            try:
                while (left := deadline - time.monotonic()) > 0 and not (stop and stop.is_set()):
                    responses = self.client.idle_check(timeout=min(left, IDLE_SLICE_SECONDS))
                    if any(_is_change(response) for response in responses):
                        return True
            finally:
                self.client.idle_done()
        return False

    def append(self, folder: str, raw: bytes, flags: Sequence[str] = ("\\Seen",)) -> None:
        """IMAP APPEND `raw` to `folder` (its raw server name) with `flags`, e.g. a sent copy to Sent."""
        with self._translated(COMMAND_TIMEOUT):
            self.client.append(folder, raw, flags=list(flags))

    def close(self) -> None:
        """LOGOUT, or just drop the connection if the server is gone."""
        try:
            self.client.socket().settimeout(min(self.deadline.remaining(), 5.0))
            self.client.logout()
        except (MailServerError, OSError, imaplib.IMAP4.error):
            try:
                self.client.shutdown()
            except OSError:
                pass

    @contextmanager
    def _translated(self, seconds: float | None = None) -> Iterator[None]:
        """Translate every error into ours. `seconds` starts a fresh per-command budget (a sync runs
        far longer than the connect-and-login budget, but no single command may hang)."""
        if seconds is not None:
            self.deadline = net.Deadline(seconds)
        self.client.socket().settimeout(self.deadline.remaining())
        try:
            yield
        except BaseException as exc:
            raise _translate(exc, self.endpoint) from None


def connect(endpoint: net.Endpoint, deadline: net.Deadline) -> ImapConnection:
    """Connect, secure (per `endpoint.encryption`), check IMAP4rev1 and LOG IN."""
    sock = net.open_socket(endpoint, deadline)
    try:
        client = _Client(
            endpoint.host,
            endpoint.port,
            sock,
            implicit_tls=endpoint.encryption == "ssl",
            timeout=deadline.remaining(),
        )
    except BaseException as exc:
        sock.close()
        raise _translate(exc, endpoint) from None
    client.folder_encode = False
    connection = ImapConnection(client, endpoint, deadline)
    try:
        _secure_and_login(connection)
    except BaseException:
        connection.close()
        raise
    return connection


def _secure_and_login(connection: ImapConnection) -> None:
    endpoint, client = connection.endpoint, connection.client
    if endpoint.encryption == "starttls":
        if not connection.has_capability("STARTTLS"):
            raise MissingCapability(
                f"The {endpoint.where} does not offer STARTTLS. Choose SSL/TLS (usually port 993) or ask "
                f"the provider which encryption it supports."
            )
        with connection._translated():
            client.starttls(net.tls_context(endpoint.verify_tls))
    if not connection.has_capability("IMAP4REV1"):
        raise MissingCapability(f"The {endpoint.where} does not speak IMAP4rev1, which Postroom needs.")
    if connection.has_capability("LOGINDISABLED"):
        raise MissingCapability(
            f"The {endpoint.where} refuses to log in without encryption. Choose STARTTLS or SSL/TLS."
        )
    with connection._translated():
        client.login(endpoint.username, endpoint.password)


def _translate(exc: BaseException, endpoint: net.Endpoint) -> BaseException:
    if isinstance(exc, MailServerError):
        return exc
    said = scrub(str(exc), endpoint.password)
    if isinstance(exc, LoginError):
        return LoginFailed(
            f"The {endpoint.where} rejected the user name or password ({said}). Check both, and whether "
            f"the account needs an app password."
        )
    if isinstance(exc, CapabilityError):
        return MissingCapability(f"The {endpoint.where} lacks a needed capability: {said}")
    if isinstance(exc, imaplib.IMAP4.error) and "not IMAP4 compliant" in said:
        return MissingCapability(f"The {endpoint.where} does not speak IMAP4rev1, which Postroom needs.")
    if isinstance(exc, imaplib.IMAP4.abort) and "EOF" in said:
        return ProtocolError(f"The {endpoint.where} closed the connection unexpectedly ({said}).")
    if isinstance(exc, imaplib.IMAP4.error):
        return ProtocolError(f"The {endpoint.where} answered unexpectedly: {said}")
    translated = net.translate(exc, endpoint)
    if translated is exc and isinstance(exc, Exception):
        return ProtocolError(f"Talking to the {endpoint.where} failed: {type(exc).__name__}: {said}")
    return translated


def _text(value: bytes | str | int) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return str(value)


@contextmanager
def _quiet(imap: imaplib.IMAP4) -> Iterator[None]:
    """imaplib debug output off for one command. IMAPClient sets debug=5, which makes imaplib format a
    repr() of every response (each whole message body) for its logger: that alone costs most of the
    fetch time. The protocol log is not needed for bulk data."""
    level = imap.debug
    imap.debug = 0
    try:
        yield
    finally:
        imap.debug = level


def _int_or_none(value: object) -> int | None:
    return int(value) if isinstance(value, int | str | bytes) else None


def _said(data: object) -> str:
    if isinstance(data, list) and data and isinstance(data[0], bytes):
        return data[0].decode("utf-8", "replace")[:200]
    return "no reason given"


def _uid_set(uids: Iterable[int]) -> str:
    """A compact UID set: 1,2,3,7,8 -> "1:3,7:8" (keeps commands short for large batches)."""
    ordered = sorted(set(uids))
    ranges: list[str] = []
    start = prev = ordered[0]
    for uid in ordered[1:]:
        if uid != prev + 1:
            ranges.append(f"{start}:{prev}" if start != prev else str(start))
            start = uid
        prev = uid
    ranges.append(f"{start}:{prev}" if start != prev else str(start))
    return ",".join(ranges)


_CHANGES = {"EXISTS", "EXPUNGE", "FETCH", "RECENT"}
IDLE_SLICE_SECONDS = 1.0


def _is_change(response: tuple[bytes | str | int, ...]) -> bool:
    """An untagged IDLE response such as `(3, b"EXISTS")` that says the folder changed."""
    return any(_text(item).upper() in _CHANGES for item in response[1:2])


_UID = re.compile(rb"\bUID (\d+)")
_FLAGS = re.compile(rb"\bFLAGS \(([^)]*)\)")
_INTERNALDATE = re.compile(rb'\bINTERNALDATE "([^"]+)"')
_SIZE = re.compile(rb"\bRFC822\.SIZE (\d+)")
_MODSEQ = re.compile(rb"\bMODSEQ \((\d+)\)")


def _parse_fetch(data: list[object]) -> Iterator[FetchedMessage]:
    """Messages from imaplib's FETCH data: each message is a (prefix, literal) tuple, followed by a bytes
    element holding whatever the server sent after the literal (at least ")"). Bare bytes elements not
    following a literal are unsolicited FETCH responses (e.g. flag updates) and are skipped."""
    head: bytes | None = None
    body = b""
    for element in data:
        if isinstance(element, tuple):
            if head is not None:
                yield _fetched(head, body)
            head, body = element[0], element[1]
        elif isinstance(element, bytes) and head is not None:
            yield _fetched(head + element, body)
            head = None
    if head is not None:
        yield _fetched(head, body)


def _fetched(meta: bytes, raw: bytes) -> FetchedMessage:
    uid = _UID.search(meta)
    if uid is None:
        raise ProtocolError("The IMAP server sent a message without its UID.")
    flags = _FLAGS.search(meta)
    internal = _INTERNALDATE.search(meta)
    size = _SIZE.search(meta)
    modseq = _MODSEQ.search(meta)
    return FetchedMessage(
        uid=int(uid.group(1)),
        flags=_flags(flags.group(1)) if flags else (),
        internal_date=_internal_date(internal.group(1)) if internal else None,
        size=int(size.group(1)) if size else len(raw),
        raw=raw,
        modseq=int(modseq.group(1)) if modseq else None,
    )


def _flags(listed: bytes) -> tuple[str, ...]:
    """The flags of a FLAGS list, without \\Recent (it belongs to one session, so it is not a state of
    the message we could keep)."""
    return tuple(flag.decode("utf-8", "replace") for flag in listed.split() if flag.upper() != rb"\RECENT")


def _internal_date(value: bytes) -> datetime | None:
    """INTERNALDATE ("23-Nov-2026 09:05:01 +0000", day possibly space-padded) as an aware datetime."""
    try:
        return datetime.strptime(value.decode("ascii").strip(), "%d-%b-%Y %H:%M:%S %z")
    except ValueError:
        return None
