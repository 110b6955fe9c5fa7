"""The real test servers work as later tests expect: TLS against the test CA, admin-side changes,
capability variants, and an SMTP server that records what it receives and fails on demand."""

from __future__ import annotations

import smtplib
import ssl

from imapclient import IMAPClient

from tests.servers.dovecot import Credentials, Dovecot
from tests.servers.smtp import SmtpServer

pytest_plugins = ["tests.servers.fixtures"]


def test_dovecot_serves_implicit_tls_verified_by_the_test_ca(
    dovecot: Dovecot, imap_user: Credentials
) -> None:
    with IMAPClient(dovecot.host, dovecot.imaps_port, ssl_context=dovecot.client_context(), timeout=10) as c:
        c.login(imap_user.username, imap_user.password)
        names = {name for _flags, _delim, name in c.list_folders()}
    assert {"INBOX", "Sent", "Drafts", "Trash", "Junk", "Archive"} <= names


def test_dovecot_offers_starttls_and_special_use(dovecot: Dovecot, imap_user: Credentials) -> None:
    client = IMAPClient(dovecot.host, dovecot.imap_port, ssl=False, timeout=10)
    client.starttls(dovecot.client_context())
    client.login(imap_user.username, imap_user.password)
    assert client.has_capability("SPECIAL-USE")
    assert client.find_special_folder(b"\\Sent") == "Sent"
    client.logout()


def test_admin_client_and_doveadm_change_the_server(dovecot: Dovecot, imap_user: Credentials) -> None:
    with dovecot.imap(imap_user.username) as admin:
        admin.create_folder("Clients/Globex")
        admin.append("INBOX", b"Subject: hello\r\nMessage-ID: <1@test>\r\n\r\nbody\r\n")
    dovecot.doveadm("mailbox", "rename", "-u", imap_user.username, "Clients/Globex", "Clients/Initech")
    listed = dovecot.doveadm("mailbox", "list", "-u", imap_user.username).split()
    assert "Clients/Initech" in listed and "Clients/Globex" not in listed
    assert "messages=1" in dovecot.doveadm("mailbox", "status", "-u", imap_user.username, "messages", "INBOX")


def test_bare_dovecot_lacks_tls_and_modern_capabilities(
    dovecot_bare: Dovecot, bare_imap_user: Credentials
) -> None:
    with dovecot_bare.imap(bare_imap_user.username) as client:
        capabilities = set(client.capabilities())
    assert b"IMAP4REV1" in capabilities
    assert not capabilities & {b"STARTTLS", b"SPECIAL-USE", b"CONDSTORE", b"IDLE"}
    assert dovecot_bare.imaps_port == 0


def test_smtp_server_records_authenticated_mail(smtp_server: SmtpServer) -> None:
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as client:
        client.starttls(context=ssl.create_default_context(cafile=str(smtp_server.ca_path)))
        client.login(smtp_server.credentials.username, smtp_server.credentials.password)
        client.sendmail("a@example.test", ["b@example.test"], b"Subject: hi\r\n\r\nbody\r\n")
    [received] = smtp_server.messages
    assert received.mail_from == "a@example.test"
    assert received.rcpt_tos == ("b@example.test",)
    assert b"Subject: hi" in received.data


def test_smtp_server_answers_configured_temporary_failure(smtps_server: SmtpServer) -> None:
    smtps_server.handler.data_reply = "451 4.3.0 Try again later"
    context = ssl.create_default_context(cafile=str(smtps_server.ca_path))
    with smtplib.SMTP_SSL(smtps_server.host, smtps_server.port, context=context, timeout=10) as client:
        client.login(smtps_server.credentials.username, smtps_server.credentials.password)
        try:
            client.sendmail("a@example.test", ["b@example.test"], b"Subject: hi\r\n\r\nbody\r\n")
        except smtplib.SMTPDataError as exc:
            assert exc.smtp_code == 451
        else:
            raise AssertionError("the server accepted mail it was told to refuse")
    assert smtps_server.messages == []
