"""One small exception hierarchy for everything that can go wrong talking to a mail server.

`imap.py` and `smtp.py` translate library, socket and TLS exceptions into these, so callers (the check,
the sync engine, the outbox) never see imaplib/smtplib/ssl types. `code` is a stable string for APIs and
tests; the message is written for an admin and never contains a password.
"""

from __future__ import annotations


class MailServerError(Exception):
    """A mail server could not be used; `code` says why, the message says what to do."""

    code = "protocol_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotAllowed(MailServerError):
    """The target is outside the install's outbound allow-list (POSTROOM_OUTBOUND_ALLOW)."""

    code = "not_allowed"


class HostNotFound(MailServerError):
    """The host name does not resolve (DNS)."""

    code = "host_not_found"


class ConnectionRefused(MailServerError):
    """Nothing listens on that host and port, or the network path is closed."""

    code = "connection_refused"


class ConnectionTimeout(MailServerError):
    """The server did not answer in time."""

    code = "timeout"


class TlsFailed(MailServerError):
    """The TLS handshake failed (wrong port or encryption setting, no common protocol or cipher)."""

    code = "tls_failed"


class CertificateInvalid(MailServerError):
    """The server's certificate is not trusted or does not name the host we connected to."""

    code = "certificate_invalid"


class LoginFailed(MailServerError):
    """The server rejected the user name or password."""

    code = "login_failed"


class MissingCapability(MailServerError):
    """The server lacks something we need (STARTTLS, IMAP4rev1, AUTH...)."""

    code = "missing_capability"


class ProtocolError(MailServerError):
    """The server answered something we did not expect, or dropped the connection."""

    code = "protocol_error"


class SendRejected(MailServerError):
    """The SMTP server refused a message; `permanent` (5xx) means retrying will not help."""

    code = "send_rejected"

    def __init__(self, message: str, *, permanent: bool, smtp_code: int) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.smtp_code = smtp_code


def scrub(text: str, *secrets: str) -> str:
    """`text` with every secret replaced, for messages built from server or library output."""
    for secret in secrets:
        if secret:
            text = text.replace(secret, "********")
    return text
