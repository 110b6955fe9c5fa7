"""An aiosmtpd SMTP server on loopback with AUTH PLAIN/LOGIN, STARTTLS or implicit TLS, that records
every message it accepts and can be told to answer 4xx/5xx."""

from __future__ import annotations

import ssl
import warnings
from dataclasses import dataclass, field
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from tests.servers.certs import TestCertificates
from tests.servers.dovecot import Credentials
from tests.servers.ports import free_port

HOST = "127.0.0.1"
SMTP_USER = Credentials("outbox@example.test", "smtp-Secret-7#q")


@dataclass(frozen=True)
class Received:
    """One accepted message: the SMTP envelope and the exact bytes of DATA."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    data: bytes


@dataclass
class Recorder:
    """The aiosmtpd handler. Set `mail_reply`, `rcpt_reply` or `data_reply` to an SMTP reply such as
    "451 4.3.0 Try again later" to make that stage fail; `reset()` clears them and the record."""

    credentials: Credentials
    messages: list[Received] = field(default_factory=list)
    mail_reply: str | None = None
    rcpt_reply: str | None = None
    data_reply: str | None = None

    def reset(self) -> None:
        self.messages.clear()
        self.mail_reply = self.rcpt_reply = self.data_reply = None

    async def handle_MAIL(  # noqa: N802 - aiosmtpd's hook name
        self, server: SMTP, session: Session, envelope: Envelope, address: str, mail_options: list[str]
    ) -> str:
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(  # noqa: N802
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if self.rcpt_reply:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:  # noqa: N802
        if self.data_reply:
            return self.data_reply
        content = envelope.original_content or b""
        self.messages.append(Received(envelope.mail_from or "", tuple(envelope.rcpt_tos), bytes(content)))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: Any
    ) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.credentials.username
            and auth_data.password.decode() == self.credentials.password
        )
        return AuthResult(success=ok, handled=False)  # not handled: aiosmtpd answers 535 itself


class _QuietController(Controller):
    """A Controller that does not warn about AUTH without TLS: the implicit-TLS server needs
    auth_require_tls off (aiosmtpd only counts STARTTLS as TLS), and loopback tests are no risk."""

    def factory(self) -> SMTP:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "Requiring AUTH while not requiring TLS", UserWarning)
            server: SMTP = super().factory()  # type: ignore[no-untyped-call]  # unannotated upstream
            return server


class SmtpServer:
    """A running server. `implicit_tls` makes it an SMTPS (port 465 style) server; otherwise it offers
    STARTTLS. AUTH is offered over plain connections too (loopback tests), and required for MAIL."""

    def __init__(self, certs: TestCertificates, *, implicit_tls: bool = False) -> None:
        self.host = HOST
        self.port = free_port(HOST)
        self.certs = certs
        self.ca_path = certs.ca_path
        self.implicit_tls = implicit_tls
        self.credentials = SMTP_USER
        self.handler = Recorder(SMTP_USER)
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(str(certs.cert_path), str(certs.key_path))
        kwargs: dict[str, Any] = {
            "hostname": HOST,
            "port": self.port,
            "authenticator": self.handler.authenticate,
            "auth_required": True,
            "auth_require_tls": False,
            "server_hostname": "smtp.test",
        }
        if implicit_tls:
            kwargs["ssl_context"] = tls
        else:
            kwargs["tls_context"] = tls
        self._controller = _QuietController(self.handler, **kwargs)

    @property
    def messages(self) -> list[Received]:
        return self.handler.messages

    def reset(self) -> None:
        self.handler.reset()

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        self._controller.stop()
