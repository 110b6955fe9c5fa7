"""Pytest fixtures for the real test servers. Enable with `pytest_plugins = ["tests.servers.fixtures"]`.

Session-scoped servers are private to each xdist worker (each worker is its own session); the
function-scoped fixtures hand every test a fresh user or a reset recorder so tests never see each other.
"""

from __future__ import annotations

import itertools
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from tests.servers.certs import TestCertificates, make_certificates
from tests.servers.dovecot import MINIMAL_CAPABILITIES, Credentials, Dovecot
from tests.servers.smtp import SmtpServer

_user_numbers = itertools.count(1)


@contextmanager
def running_dovecot(certs: TestCertificates, **options: Any) -> Iterator[Dovecot]:
    """Start a private Dovecot (options: `tls`, `imap_capability`) and stop and remove it afterwards."""
    # Not under pytest's 0700 basetemp: Dovecot's unprivileged processes must reach these files.
    root = Path(tempfile.mkdtemp(prefix="postroom-dovecot-"))
    root.chmod(0o755)
    instance = Dovecot(root / "instance", certs, **options)
    try:
        instance.start()
        yield instance
    finally:
        instance.stop()
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def test_certs(tmp_path_factory: pytest.TempPathFactory) -> TestCertificates:
    """A CA and a localhost/127.0.0.1 server certificate signed by it."""
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="session")
def dovecot(test_certs: TestCertificates) -> Iterator[Dovecot]:
    """Dovecot with every default capability: IMAP+STARTTLS on `imap_port`, implicit TLS on `imaps_port`."""
    with running_dovecot(test_certs) as instance:
        yield instance


@pytest.fixture(scope="session")
def dovecot_bare(test_certs: TestCertificates) -> Iterator[Dovecot]:
    """An old, plain server: no TLS at all (so no STARTTLS) and only IMAP4rev1 LITERAL+ NAMESPACE
    (no SPECIAL-USE, CONDSTORE, QRESYNC, IDLE, UIDPLUS)."""
    with running_dovecot(test_certs, tls=False, imap_capability=MINIMAL_CAPABILITIES) as instance:
        yield instance


def _fresh_user(server: Dovecot) -> Credentials:
    return server.add_user(f"user{next(_user_numbers)}@example.test", f"pw-{next(_user_numbers)}-Zk!")


@pytest.fixture
def imap_user(dovecot: Dovecot) -> Credentials:
    """A new user on `dovecot`, with INBOX and the special-use folders (Sent, Drafts, Trash, Junk...)."""
    return _fresh_user(dovecot)


@pytest.fixture
def bare_imap_user(dovecot_bare: Dovecot) -> Credentials:
    """A new user on `dovecot_bare`."""
    return _fresh_user(dovecot_bare)


@pytest.fixture(scope="session")
def _smtp_session(test_certs: TestCertificates) -> Iterator[SmtpServer]:
    server = SmtpServer(test_certs)
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def _smtps_session(test_certs: TestCertificates) -> Iterator[SmtpServer]:
    server = SmtpServer(test_certs, implicit_tls=True)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def smtp_server(_smtp_session: SmtpServer) -> SmtpServer:
    """An SMTP server offering STARTTLS and AUTH PLAIN/LOGIN, reset (no messages, no forced errors)."""
    _smtp_session.reset()
    return _smtp_session


@pytest.fixture
def smtps_server(_smtps_session: SmtpServer) -> SmtpServer:
    """An implicit-TLS SMTP server (SMTPS), reset."""
    _smtps_session.reset()
    return _smtps_session
