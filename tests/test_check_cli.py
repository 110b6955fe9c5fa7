"""`postroom mailbox check` and `postroom mailbox folders` against the real Dovecot and SMTP servers."""

from __future__ import annotations

import json

import pytest
from cryptography.fernet import Fernet
from pytest_django.fixtures import Settings as SettingsWrapper

from postroom.mailboxes.models import Mailbox
from postroom.sync.models import Folder
from tests.cli_helpers import run_cli
from tests.conftest import Cast
from tests.factories import make_mailbox
from tests.servers.dovecot import Credentials, Dovecot
from tests.servers.smtp import SmtpServer
from tests.sync_helpers import tls_mailbox

pytest_plugins = ["tests.servers.fixtures"]


@pytest.fixture
def mailbox(cast: Cast, dovecot: Dovecot, imap_user: Credentials, settings: SettingsWrapper) -> Mailbox:
    return tls_mailbox(cast.acme, dovecot, imap_user, settings)


def test_check_prints_the_folder_tree_and_stores_it(
    mailbox: Mailbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_cli(capsys, monkeypatch, "mailbox", "check", str(mailbox.pk))
    assert result.code == 0, result.err
    assert "IMAP: ok" in result.out and "SMTP: not enabled" in result.out
    assert "[ ] INBOX  [inbox]" in result.out and "[ ] Sent  [sent]" in result.out
    assert set(Folder.objects.filter(mailbox=mailbox).values_list("name", flat=True)) >= {"INBOX", "Sent"}


def test_check_json_is_one_document_with_folders_and_selection(
    mailbox: Mailbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_cli(capsys, monkeypatch, "mailbox", "check", str(mailbox.pk))
    run_cli(capsys, monkeypatch, "mailbox", "folders", str(mailbox.pk), "--sync", "INBOX")
    result = run_cli(capsys, monkeypatch, "mailbox", "check", str(mailbox.pk), "--json")
    document = json.loads(result.out)
    assert document["ok"] is True and document["smtp"] is None
    assert "IMAP4REV1" in document["imap"]["capabilities"]
    selected = {f["name"]: f["selected"] for f in document["folders"]}
    assert selected["INBOX"] is True and selected["Sent"] is False


def test_folders_sync_ticks_exactly_the_named_folders(
    mailbox: Mailbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_cli(capsys, monkeypatch, "mailbox", "check", str(mailbox.pk))
    result = run_cli(capsys, monkeypatch, "mailbox", "folders", str(mailbox.pk), "--sync", "INBOX,Archive")
    assert result.code == 0, result.err
    assert "[x] INBOX" in result.out and "[x] Archive" in result.out and "[ ] Sent" in result.out
    chosen = set(Folder.objects.filter(mailbox=mailbox, selected=True).values_list("name", flat=True))
    assert chosen == {"INBOX", "Archive"}


def test_folders_with_an_unknown_name_changes_nothing_and_lists_valid_names(
    mailbox: Mailbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_cli(capsys, monkeypatch, "mailbox", "check", str(mailbox.pk))
    run_cli(capsys, monkeypatch, "mailbox", "folders", str(mailbox.pk), "--sync", "INBOX")
    result = run_cli(capsys, monkeypatch, "mailbox", "folders", str(mailbox.pk), "--sync", "Nope,Sent")
    assert result.code == 2
    assert "Nope" in result.err and "Valid folders:" in result.err and "INBOX" in result.err
    assert list(Folder.objects.filter(mailbox=mailbox, selected=True).values_list("name", flat=True)) == [
        "INBOX"
    ]


def test_folders_before_any_check_says_to_run_the_check(
    mailbox: Mailbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_cli(capsys, monkeypatch, "mailbox", "folders", str(mailbox.pk))
    assert result.code == 2 and f"postroom mailbox check {mailbox.pk}" in result.err


def test_failed_check_exits_1_with_the_reason_and_never_the_password(
    mailbox: Mailbox, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    password = mailbox.get_password()
    mailbox.set_password("wrong-" + password)
    mailbox.save()
    result = run_cli(capsys, monkeypatch, "mailbox", "check", str(mailbox.pk))
    assert result.code == 1
    assert "IMAP: failed (login_failed)" in result.out
    assert password not in result.out + result.err and mailbox.password_ciphertext not in result.out


def test_check_of_smtp_only_mailbox_skips_imap(
    cast: Cast,
    smtp_server: SmtpServer,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    settings: SettingsWrapper,
) -> None:
    settings.POSTROOM_EXTRA_CA_FILE = str(smtp_server.ca_path)
    user, password = smtp_server.credentials.username, smtp_server.credentials.password
    mailbox = make_mailbox(
        cast.acme,
        imap_enabled=False,
        smtp_enabled=True,
        smtp_host="localhost",
        smtp_port=smtp_server.port,
        smtp_encryption="starttls",
        username=user,
        password=password,
    )
    result = run_cli(capsys, monkeypatch, "mailbox", "check", str(mailbox.pk), "--json")
    document = json.loads(result.out)
    assert result.code == 0, document
    assert document["imap"] is None and document["smtp"]["ok"] is True


def test_password_under_a_removed_key_is_reported_not_raised(
    mailbox: Mailbox,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    settings: SettingsWrapper,
) -> None:
    # Keys from the environment (no ring file to fall back on), and the mailbox's key is not among them.
    settings.POSTROOM_KEY_RING_FILE = ""
    settings.POSTROOM_ENCRYPTION_KEYS = [Fernet.generate_key().decode()]
    result = run_cli(capsys, monkeypatch, "mailbox", "check", str(mailbox.pk), "--json")
    document = json.loads(result.out)
    assert result.code == 1
    assert document["imap"]["error"]["code"] == "secret_unreadable"
    assert "Enter the password again" in document["imap"]["error"]["message"]
