"""Reaching a mail server: a time budget, the allow-list, DNS, TCP and TLS, with every failure translated
into `postroom.sync.errors`. Shared by imap.py and smtp.py so both name failures the same way."""

from __future__ import annotations

import errno
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass, field

from django.conf import settings

from postroom.sync import allowlist
from postroom.sync.errors import (
    CertificateInvalid,
    ConnectionRefused,
    ConnectionTimeout,
    HostNotFound,
    MailServerError,
    NotAllowed,
    TlsFailed,
)

# OpenSSL verify codes for "the certificate does not name this host / IP address".
_HOSTNAME_MISMATCH_CODES = {62, 64}


class Deadline:
    """A wall-clock budget shared by every step of one operation (DNS, connect, TLS, each command)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._end = time.monotonic() + seconds

    def remaining(self) -> float:
        """Seconds left; raises ConnectionTimeout once the budget is spent."""
        left = self._end - time.monotonic()
        if left <= 0:
            raise ConnectionTimeout(f"no answer within {self.seconds:g} seconds")
        return left


@dataclass(frozen=True)
class Endpoint:
    """Where and how to connect. `encryption` is "ssl" (implicit TLS), "starttls" or "none"."""

    service: str  # "IMAP" or "SMTP", for messages
    host: str
    port: int
    encryption: str
    verify_tls: bool = True
    username: str = ""
    password: str = field(default="", repr=False)

    @property
    def where(self) -> str:
        return f"{self.service} server {self.host} port {self.port}"


def tls_context(verify: bool) -> ssl.SSLContext:
    """The system's trusted CAs plus POSTROOM_EXTRA_CA_FILE (a private CA an install trusts); with
    `verify` off, any certificate is accepted (the caller shows a warning)."""
    context = ssl.create_default_context()
    extra = settings.POSTROOM_EXTRA_CA_FILE
    if extra:
        context.load_verify_locations(cafile=extra)
    if not verify:
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    return context


def open_socket(endpoint: Endpoint, deadline: Deadline) -> socket.socket:
    """A TCP connection to the endpoint, after the allow-list agreed; TLS-wrapped for implicit TLS."""
    addresses = _permitted_addresses(endpoint, deadline)
    sock = _connect_any(endpoint, addresses, deadline)
    if endpoint.encryption != "ssl":
        return sock
    return wrap_tls(sock, endpoint, deadline)


def wrap_tls(sock: socket.socket, endpoint: Endpoint, deadline: Deadline) -> ssl.SSLSocket:
    sock.settimeout(deadline.remaining())
    try:
        return tls_context(endpoint.verify_tls).wrap_socket(sock, server_hostname=endpoint.host)
    except BaseException as exc:
        sock.close()
        raise translate(exc, endpoint) from None


def translate(exc: BaseException, endpoint: Endpoint) -> BaseException:
    """Our error for a socket/TLS exception; anything else comes back unchanged (so it is re-raised)."""
    if isinstance(exc, MailServerError):
        return exc
    if isinstance(exc, ssl.SSLCertVerificationError):
        return _certificate_error(exc, endpoint)
    if isinstance(exc, ssl.SSLError):
        reason = exc.reason or exc.strerror or "handshake failed"
        return TlsFailed(
            f"The TLS handshake with the {endpoint.where} failed ({reason}). Check that the port and the "
            f"encryption setting match (SSL/TLS usually on 993/465, STARTTLS on 143/587)."
        )
    if isinstance(exc, TimeoutError | socket.timeout):
        return ConnectionTimeout(
            f"The {endpoint.where} did not answer in time. Check the host and port, and that a firewall "
            f"lets Postroom through."
        )
    if isinstance(exc, ConnectionRefusedError):
        return _refused(endpoint, "connection refused")
    if isinstance(exc, ConnectionError | EOFError):
        return ConnectionRefused(
            f"The {endpoint.where} closed the connection. Check the port and encryption setting."
        )
    if isinstance(exc, OSError):
        return _refused(endpoint, exc.strerror or "network error")
    return exc


def _certificate_error(exc: ssl.SSLCertVerificationError, endpoint: Endpoint) -> CertificateInvalid:
    hint = (
        "Fix the server's certificate, or (knowing that anyone on the network could then read the mail) "
        "turn off certificate verification for this mailbox."
    )
    if exc.verify_code in _HOSTNAME_MISMATCH_CODES:
        return CertificateInvalid(
            f"Hostname mismatch: the certificate of the {endpoint.where} is not valid for "
            f"'{endpoint.host}'. Use the host name the certificate names. {hint}"
        )
    detail = exc.verify_message or "verification failed"
    return CertificateInvalid(f"The certificate of the {endpoint.where} is not trusted ({detail}). {hint}")


def _refused(endpoint: Endpoint, detail: str) -> ConnectionRefused:
    return ConnectionRefused(
        f"Could not connect to the {endpoint.where} ({detail}). Check the host and port, and that the "
        f"server is running."
    )


def _permitted_addresses(endpoint: Endpoint, deadline: Deadline) -> list[allowlist.IPAddress]:
    rules = allowlist.configured_rules()
    if rules and not allowlist.allowed_by_name(rules, endpoint.host, endpoint.port):
        if not allowlist.has_network_rules(rules):
            raise _not_allowed(endpoint)
        addresses = resolve(endpoint, deadline)
        if not allowlist.allowed_addresses(rules, endpoint.port, addresses):
            raise _not_allowed(endpoint)
        return addresses
    return resolve(endpoint, deadline)


def _not_allowed(endpoint: Endpoint) -> NotAllowed:
    return NotAllowed(
        f"Connections to {endpoint.host} port {endpoint.port} are not allowed on this installation "
        f"(POSTROOM_OUTBOUND_ALLOW). Ask the platform admin to allow it."
    )


def resolve(endpoint: Endpoint, deadline: Deadline) -> list[allowlist.IPAddress]:
    """Every address the host name resolves to, within the deadline (getaddrinfo has no timeout of its
    own, so it runs in a daemon thread we stop waiting for)."""
    if not endpoint.host:
        raise HostNotFound(f"No host name is set for the {endpoint.service} server.")
    outcome: list[list[allowlist.IPAddress] | BaseException] = []

    def lookup() -> None:
        try:
            infos = socket.getaddrinfo(endpoint.host, endpoint.port, type=socket.SOCK_STREAM)
            found = [ipaddress.ip_address(info[4][0]) for info in infos]
            outcome.append(list(dict.fromkeys(found)))
        except BaseException as exc:  # handed to the waiting thread
            outcome.append(exc)

    worker = threading.Thread(target=lookup, daemon=True, name="postroom-dns")
    worker.start()
    worker.join(deadline.remaining())
    if not outcome:
        raise ConnectionTimeout(f"Looking up {endpoint.host} in DNS took too long. Check the host name.")
    result = outcome[0]
    if isinstance(result, socket.gaierror) or (isinstance(result, list) and not result):
        raise HostNotFound(
            f"The host name '{endpoint.host}' of the {endpoint.service} server was not found (DNS). "
            f"Check it for typos."
        )
    if isinstance(result, BaseException):
        raise translate(result, endpoint) from None
    return result


def _connect_any(
    endpoint: Endpoint, addresses: list[allowlist.IPAddress], deadline: Deadline
) -> socket.socket:
    """Connect to the first address that answers; the error of the last one is reported."""
    last: BaseException = OSError(errno.EHOSTUNREACH, "no address")
    for address in addresses:
        family = socket.AF_INET6 if address.version == 6 else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.settimeout(deadline.remaining())
        try:
            sock.connect((str(address), endpoint.port))
            return sock
        except OSError as exc:
            sock.close()
            last = exc
    raise translate(last, endpoint)
