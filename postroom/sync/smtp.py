"""The only door to SMTP: the one module that imports smtplib.

`connect(endpoint, deadline)` returns an authenticated `SmtpConnection` (EHLO, STARTTLS or implicit TLS,
AUTH); errors are translated into `postroom.sync.errors`. smtplib's debug output stays off, so AUTH is
never printed, and messages built from server replies are scrubbed of the password.
"""

from __future__ import annotations

import smtplib
import socket
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from types import TracebackType

from postroom.sync import net
from postroom.sync.errors import (
    LoginFailed,
    MailServerError,
    MissingCapability,
    ProtocolError,
    SendRejected,
    scrub,
)


class _PreconnectedSMTP(smtplib.SMTP):
    """smtplib over a socket we opened ourselves (after the allow-list, to the vetted address)."""

    def __init__(self, sock: socket.socket, timeout: float) -> None:
        self._preconnected = sock
        super().__init__(timeout=timeout)

    def _get_socket(self, host: str, port: int, timeout: float) -> socket.socket:
        self._host = host  # what STARTTLS checks the certificate against (smtplib only sets it in __init__)
        return self._preconnected


class SmtpConnection:
    """An authenticated SMTP session; `send` hands one message over."""

    def __init__(self, smtp: smtplib.SMTP, endpoint: net.Endpoint, deadline: net.Deadline) -> None:
        self.smtp = smtp
        self.endpoint = endpoint
        self.deadline = deadline

    def __enter__(self) -> SmtpConnection:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def auth_mechanisms(self) -> list[str]:
        return sorted(self.smtp.esmtp_features.get("auth", "").upper().split())

    def send(self, mail_from: str, rcpt_to: Sequence[str], data: bytes) -> None:
        """Send `data` as is. Raises SendRejected (`permanent` for 5xx) when the server refuses it, at
        any stage or for any recipient: a message is either accepted for everyone or reported."""
        with self._translated():
            refused = self.smtp.sendmail(mail_from, list(rcpt_to), data)
        if refused:
            code, reply = next(iter(refused.values()))
            raise _rejected(self.endpoint, code, reply, f"refused {', '.join(sorted(refused))}")

    def close(self) -> None:
        try:
            if self.smtp.sock is not None:
                self.smtp.sock.settimeout(min(self.deadline.remaining(), 5.0))
            self.smtp.quit()
        except (MailServerError, OSError, smtplib.SMTPException):
            self.smtp.close()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        if self.smtp.sock is not None:
            self.smtp.sock.settimeout(self.deadline.remaining())
        try:
            yield
        except BaseException as exc:
            raise _translate(exc, self.endpoint) from None


def connect(endpoint: net.Endpoint, deadline: net.Deadline) -> SmtpConnection:
    """Connect, EHLO, secure (per `endpoint.encryption`) and AUTH when a user name is set."""
    sock = net.open_socket(endpoint, deadline)
    smtp = _PreconnectedSMTP(sock, timeout=deadline.remaining())
    connection = SmtpConnection(smtp, endpoint, deadline)
    try:
        with connection._translated():
            smtp.connect(endpoint.host, endpoint.port)
            smtp.ehlo()
        _secure(connection)
        if endpoint.username:
            with connection._translated():
                smtp.login(endpoint.username, endpoint.password)
    except BaseException:
        connection.close()
        raise
    return connection


def _secure(connection: SmtpConnection) -> None:
    endpoint, smtp = connection.endpoint, connection.smtp
    if endpoint.encryption != "starttls":
        return
    if not smtp.has_extn("starttls"):
        raise MissingCapability(
            f"The {endpoint.where} does not offer STARTTLS. Choose SSL/TLS (usually port 465) or ask the "
            f"provider which encryption it supports."
        )
    with connection._translated():
        smtp.starttls(context=net.tls_context(endpoint.verify_tls))
        smtp.ehlo()


def _translate(exc: BaseException, endpoint: net.Endpoint) -> BaseException:
    if isinstance(exc, MailServerError):
        return exc
    said = scrub(str(exc), endpoint.password)
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return LoginFailed(
            f"The {endpoint.where} rejected the user name or password ({_reply(exc, endpoint)}). Check "
            f"both, and whether the account needs an app password."
        )
    if isinstance(exc, smtplib.SMTPNotSupportedError) or "No suitable authentication method" in said:
        return MissingCapability(f"The {endpoint.where} lacks a needed capability: {said}")
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        code, reply = next(iter(exc.recipients.values()))
        return _rejected(endpoint, code, reply, "refused every recipient")
    if isinstance(exc, smtplib.SMTPResponseException) and not isinstance(exc, smtplib.SMTPConnectError):
        return _rejected(endpoint, exc.smtp_code, exc.smtp_error, "refused the message")
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return ProtocolError(f"The {endpoint.where} closed the connection unexpectedly.")
    if isinstance(exc, smtplib.SMTPException):
        return ProtocolError(f"The {endpoint.where} answered unexpectedly: {said}")
    translated = net.translate(exc, endpoint)
    if translated is exc and isinstance(exc, Exception):
        return ProtocolError(f"Talking to the {endpoint.where} failed: {type(exc).__name__}: {said}")
    return translated


def _reply(exc: smtplib.SMTPResponseException, endpoint: net.Endpoint) -> str:
    text = (
        exc.smtp_error.decode("utf-8", "replace")
        if isinstance(exc.smtp_error, bytes)
        else str(exc.smtp_error)
    )
    return scrub(f"{exc.smtp_code} {text}", endpoint.password)


def _rejected(endpoint: net.Endpoint, code: int, reply: bytes | str, what: str) -> SendRejected:
    text = reply.decode("utf-8", "replace") if isinstance(reply, bytes) else reply
    permanent = code >= 500
    kind = "permanently" if permanent else "temporarily (will retry)"
    return SendRejected(
        f"The {endpoint.where} {what} {kind}: {code} {scrub(text, endpoint.password)}",
        permanent=permanent,
        smtp_code=code,
    )
