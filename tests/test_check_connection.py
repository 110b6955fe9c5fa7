"""Check Connection/Retrieve Folders (M3) against a real Dovecot and a real SMTP server: success with the
folder tree, and every failure named with its stable code, never showing the password."""

from __future__ import annotations

import itertools
import logging
import socket
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from pytest_django.fixtures import Settings as SettingsWrapper

from postroom.mailboxes.models import Mailbox
from postroom.sync.allowlist import parse_rule
from postroom.sync.check import CheckResult, check_connection, imap_of
from postroom.sync.folders import FolderNode, flatten
from tests.conftest import Cast
from tests.servers.dovecot import Credentials, Dovecot
from tests.servers.ports import free_port
from tests.servers.smtp import SmtpServer
from tests.sync_helpers import imaps_mailbox

pytest_plugins = ["tests.servers.fixtures"]
_labels = itertools.count(1)


@pytest.fixture
def trust_test_ca(settings: SettingsWrapper, dovecot: Dovecot) -> None:
    settings.POSTROOM_EXTRA_CA_FILE = str(dovecot.ca_path)


def imap_mailbox(cast: Cast, server: Dovecot, user: Credentials, **extra: Any) -> Mailbox:
    return imaps_mailbox(cast.acme, server, user, f"Support {next(_labels)}", **extra)


def with_smtp(mailbox: Mailbox, server: SmtpServer, encryption: str, **extra: Any) -> Mailbox:
    mailbox.smtp_enabled = True
    mailbox.smtp_host = "localhost"
    mailbox.smtp_port = server.port
    mailbox.smtp_encryption = encryption
    mailbox.username = extra.get("username", server.credentials.username)
    mailbox.set_password(extra.get("password", server.credentials.password))
    mailbox.save()
    return mailbox


def nodes_by_name(result: CheckResult) -> dict[str, FolderNode]:
    return {node.name: node for node in flatten(imap_of(result).folders)}


def assert_failed(result: CheckResult, code: str, *words: str) -> None:
    assert not imap_of(result).ok
    assert imap_of(result).error_code == code, imap_of(result).error_message
    for word in words:
        assert word in imap_of(result).error_message


@pytest.mark.usefixtures("trust_test_ca")
def test_check_over_implicit_tls_returns_tree_with_kinds_nesting_and_decoded_names(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    with dovecot.imap(imap_user.username) as admin:
        admin.create_folder("Kunden")
        admin.create_folder("Kunden/Entwürfe")
        admin.create_folder("Отправленные")
    result = check_connection(imap_mailbox(cast, dovecot, imap_user))

    assert result.ok, result.to_dict()
    assert "IMAP4REV1" in imap_of(result).capabilities and "SPECIAL-USE" in imap_of(result).capabilities
    nodes = nodes_by_name(result)
    assert imap_of(result).folders[0].name == "INBOX"
    assert {name: nodes[name].kind for name in ("INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive")} == {
        "INBOX": "inbox",
        "Sent": "sent",
        "Drafts": "drafts",
        "Trash": "trash",
        "Junk": "spam",
        "Archive": "archive",
    }
    nested = nodes["Kunden/Entw&APw-rfe"]
    assert (nested.display_name, nested.label, nested.parent_name, nested.delimiter) == (
        "Kunden/Entwürfe",
        "Entwürfe",
        "Kunden",
        "/",
    )
    assert nested in nodes["Kunden"].children
    assert nodes["&BB4EQgQ,BEAEMAQyBDsENQQ9BD0ESwQ1-"].display_name == "Отправленные"
    assert result.warnings == []
    assert result.to_dict()["imap"]["folders"][0]["name"] == "INBOX"


@pytest.mark.usefixtures("trust_test_ca")
def test_check_over_starttls_verifies_against_extra_ca(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    mailbox = imap_mailbox(cast, dovecot, imap_user, imap_port=dovecot.imap_port, imap_encryption="starttls")
    result = check_connection(mailbox)
    assert imap_of(result).ok, imap_of(result).error_message
    assert "Sent" in nodes_by_name(result)


def test_untrusted_certificate_is_certificate_invalid(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    result = check_connection(imap_mailbox(cast, dovecot, imap_user))
    assert_failed(result, "certificate_invalid", "not trusted", "verification")


@pytest.mark.usefixtures("trust_test_ca")
def test_certificate_for_another_host_is_hostname_mismatch(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    result = check_connection(imap_mailbox(cast, dovecot, imap_user, imap_host=dovecot.mismatch_host))
    assert_failed(result, "certificate_invalid", "Hostname mismatch", dovecot.mismatch_host)


def test_verification_off_connects_to_untrusted_server_with_a_warning(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    mailbox = imap_mailbox(cast, dovecot, imap_user, imap_host=dovecot.mismatch_host, verify_tls=False)
    result = check_connection(mailbox)
    assert imap_of(result).ok, imap_of(result).error_message
    assert len(result.warnings) == 1 and "verification is off" in result.warnings[0]


@pytest.mark.usefixtures("trust_test_ca")
def test_wrong_password_is_login_failed_and_never_shown_or_logged(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials, caplog: pytest.LogCaptureFixture
) -> None:
    wrong = "Wr0ng-Pa55word-zz"
    caplog.set_level(logging.DEBUG)
    result = check_connection(imap_mailbox(cast, dovecot, imap_user, password=wrong))
    assert_failed(result, "login_failed", "rejected the user name or password")
    assert wrong not in str(result.to_dict())
    assert wrong not in caplog.text
    assert "LOGIN" in caplog.text  # the protocol log was captured, with the command redacted


@pytest.mark.usefixtures("trust_test_ca")
def test_successful_login_does_not_log_the_password(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    assert check_connection(imap_mailbox(cast, dovecot, imap_user)).ok
    assert imap_user.password not in caplog.text


def test_unknown_host_is_host_not_found(cast: Cast, dovecot: Dovecot, imap_user: Credentials) -> None:
    result = check_connection(imap_mailbox(cast, dovecot, imap_user, imap_host="no-such-host.invalid"))
    assert_failed(result, "host_not_found", "no-such-host.invalid")


def test_closed_port_is_connection_refused(cast: Cast, dovecot: Dovecot, imap_user: Credentials) -> None:
    result = check_connection(imap_mailbox(cast, dovecot, imap_user, imap_port=free_port()))
    assert_failed(result, "connection_refused", "Check the host and port")


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port that accepts connections and never says a word."""
    listener = socket.create_server(("127.0.0.1", 0))
    accepted: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    yield listener.getsockname()[1]
    stop.set()
    thread.join()
    for conn in accepted:
        conn.close()
    listener.close()


@pytest.mark.parametrize("encryption", ["none", "ssl"])
def test_server_that_never_speaks_is_timeout_within_the_budget(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials, silent_server: int, encryption: str
) -> None:
    mailbox = imap_mailbox(
        cast, dovecot, imap_user, imap_host="127.0.0.1", imap_port=silent_server, imap_encryption=encryption
    )
    result = check_connection(mailbox, timeout=1.0)
    assert_failed(result, "timeout", "did not answer in time")


def test_whole_check_stays_within_its_budget_when_both_servers_hang(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials, smtp_server: SmtpServer, silent_server: int
) -> None:
    mailbox = with_smtp(
        imap_mailbox(cast, dovecot, imap_user, imap_host="127.0.0.1", imap_port=silent_server),
        smtp_server,
        "ssl",
    )
    mailbox.smtp_port = silent_server
    mailbox.save()
    started = time.monotonic()
    result = check_connection(mailbox, timeout=1.5)
    assert time.monotonic() - started < 2.5
    assert imap_of(result).error_code == "timeout"
    assert result.smtp is not None and result.smtp.error_code == "timeout"


def test_missing_host_is_named(cast: Cast, dovecot: Dovecot, imap_user: Credentials) -> None:
    assert_failed(check_connection(imap_mailbox(cast, dovecot, imap_user, imap_host="")), "host_not_found")


def test_starttls_against_a_server_without_it_is_missing_capability(
    cast: Cast, dovecot_bare: Dovecot, bare_imap_user: Credentials
) -> None:
    mailbox = imap_mailbox(
        cast, dovecot_bare, bare_imap_user, imap_port=dovecot_bare.imap_port, imap_encryption="starttls"
    )
    result = check_connection(mailbox)
    assert_failed(result, "missing_capability", "STARTTLS")


def test_plain_imap_to_a_server_without_special_use_still_classifies_by_name(
    cast: Cast, dovecot_bare: Dovecot, bare_imap_user: Credentials
) -> None:
    with dovecot_bare.imap(bare_imap_user.username) as admin:
        admin.create_folder("Gesendete Objekte")
    mailbox = imap_mailbox(
        cast, dovecot_bare, bare_imap_user, imap_port=dovecot_bare.imap_port, imap_encryption="none"
    )
    result = check_connection(mailbox)
    assert imap_of(result).ok, imap_of(result).error_message
    assert "SPECIAL-USE" not in imap_of(result).capabilities
    assert nodes_by_name(result)["Gesendete Objekte"].kind == "sent"


def test_tls_to_a_plain_port_is_tls_failed(cast: Cast, dovecot: Dovecot, imap_user: Credentials) -> None:
    result = check_connection(imap_mailbox(cast, dovecot, imap_user, imap_port=dovecot.imap_port))
    assert_failed(result, "tls_failed", "encryption setting")


@pytest.mark.usefixtures("trust_test_ca")
@pytest.mark.parametrize("encryption", ["starttls", "ssl"])
def test_smtp_check_authenticates_over_starttls_and_implicit_tls(
    cast: Cast,
    dovecot: Dovecot,
    imap_user: Credentials,
    smtp_server: SmtpServer,
    smtps_server: SmtpServer,
    encryption: str,
) -> None:
    server = smtp_server if encryption == "starttls" else smtps_server
    mailbox = with_smtp(imap_mailbox(cast, dovecot, imap_user), server, encryption)
    result = check_connection(mailbox)
    assert result.smtp is not None and result.smtp.ok, result.smtp
    assert {"LOGIN", "PLAIN"} <= set(result.smtp.auth_mechanisms)
    # IMAP used the mailbox's (now SMTP) credentials: the check reports each side on its own.
    assert imap_of(result).error_code == "login_failed"


@pytest.mark.usefixtures("trust_test_ca")
def test_smtp_bad_password_is_login_failed_without_the_password(
    cast: Cast,
    dovecot: Dovecot,
    imap_user: Credentials,
    smtp_server: SmtpServer,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "Not-The-Smtp-Pw-55"
    mailbox = with_smtp(imap_mailbox(cast, dovecot, imap_user), smtp_server, "starttls", password=wrong)
    result = check_connection(mailbox)
    assert result.smtp is not None and result.smtp.error_code == "login_failed"
    assert "535" in result.smtp.error_message
    assert wrong not in str(result.to_dict()) and wrong not in caplog.text


def test_smtp_refused_port_is_connection_refused(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials, smtp_server: SmtpServer
) -> None:
    mailbox = with_smtp(imap_mailbox(cast, dovecot, imap_user), smtp_server, "starttls")
    mailbox.smtp_port = free_port()
    mailbox.save()
    result = check_connection(mailbox)
    assert result.smtp is not None and result.smtp.error_code == "connection_refused"
    assert "SMTP server localhost port" in result.smtp.error_message


def test_smtp_not_checked_when_disabled(cast: Cast, dovecot: Dovecot, imap_user: Credentials) -> None:
    result = check_connection(imap_mailbox(cast, dovecot, imap_user, verify_tls=False))
    assert result.smtp is None and result.to_dict()["smtp"] is None


@pytest.mark.usefixtures("trust_test_ca")
def test_allow_list_refuses_other_targets_before_connecting(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials, settings: SettingsWrapper
) -> None:
    settings.POSTROOM_OUTBOUND_ALLOW = ["mail.example.com:993"]
    result = check_connection(imap_mailbox(cast, dovecot, imap_user))
    assert_failed(result, "not_allowed", "POSTROOM_OUTBOUND_ALLOW")


@pytest.mark.usefixtures("trust_test_ca")
def test_allow_list_network_rule_checks_the_address_a_name_resolves_to(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials, settings: SettingsWrapper
) -> None:
    # "localhost" resolves to 127.0.0.1: a rule for another network must not let the name slip through.
    settings.POSTROOM_OUTBOUND_ALLOW = ["10.0.0.0/8"]
    assert_failed(check_connection(imap_mailbox(cast, dovecot, imap_user)), "not_allowed")
    settings.POSTROOM_OUTBOUND_ALLOW = [f"127.0.0.0/8:{dovecot.imaps_port}"]
    assert imap_of(check_connection(imap_mailbox(cast, dovecot, imap_user))).ok
    settings.POSTROOM_OUTBOUND_ALLOW = ["127.0.0.0/8:1"]
    assert_failed(check_connection(imap_mailbox(cast, dovecot, imap_user)), "not_allowed")


def test_allow_list_host_rule_allows_the_named_host(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials, settings: SettingsWrapper
) -> None:
    settings.POSTROOM_OUTBOUND_ALLOW = ["LOCALHOST", "10.1.0.0/16"]
    mailbox = imap_mailbox(cast, dovecot, imap_user, verify_tls=False)
    assert imap_of(check_connection(mailbox)).ok


@pytest.mark.parametrize("entry", ["not a host", "10.0.0.0/8:99999", "[::1]:x", "exa_mple.com"])
def test_allow_list_rejects_nonsense_entries(entry: str) -> None:
    with pytest.raises(ImproperlyConfigured, match="POSTROOM_OUTBOUND_ALLOW"):
        parse_rule(entry)
