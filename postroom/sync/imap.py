"""The only door to IMAP: the one module that imports imapclient and imaplib.

`connect(endpoint, deadline)` returns a logged-in `ImapConnection`; every library, socket and TLS error
is translated into `postroom.sync.errors`. LOGIN is never logged: imapclient redacts it from its protocol
log, and every message we build from server output is scrubbed of the password as well.
"""

from __future__ import annotations

import imaplib
import socket
from collections.abc import Iterator
from contextlib import contextmanager
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
    def _translated(self) -> Iterator[None]:
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
