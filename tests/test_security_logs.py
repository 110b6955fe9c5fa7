"""No secret in logs, stored errors, command or API output, or exception reports (issue 6, "Secrets").

A mailbox whose IMAP password is wrong meets the real Dovecot: the connection check and a sync fail with
`login_failed`, and the password appears in none of what they leave behind — every log record at DEBUG
(message, arguments, extra fields, exception text, before any handler's redaction), the stored error,
the check's answer on the web page, in the API and on the command line. Exception reports (Django's
technical 500 page and the error e-mail) hide the password too.
"""

from __future__ import annotations

import json
import logging
import sys

import pytest
from django.forms.models import model_to_dict
from django.test import RequestFactory
from django.urls import reverse
from django.views.debug import ExceptionReporter
from pytest_django.fixtures import Settings as SettingsWrapper

from postroom.mailboxes.models import Mailbox
from postroom.sync.check import check_connection
from postroom.sync.engine import sync_mailbox
from postroom.sync.models import MailboxSyncState
from tests.api_helpers import as_user
from tests.cli_helpers import run_cli
from tests.conftest import Cast
from tests.processing_helpers import folder_of
from tests.servers.dovecot import Credentials, Dovecot
from tests.sync_helpers import tls_mailbox
from tests.web_support import client_for, mailbox_form_data

pytest_plugins = ["tests.servers.fixtures"]

WRONG = "Quokka-wrong-pw-9c41"  # distinctive: found anywhere, it can only have come from the mailbox


def logged(caplog: pytest.LogCaptureFixture) -> str:
    """Everything the log records carry, as the raw records reach any handler (caplog's handler has no
    redaction filter): message, arguments, extra attributes and exception text."""
    parts = []
    for record in caplog.records:
        parts.append(record.getMessage())
        parts.append(repr(vars(record)))
        if record.exc_info:
            parts.append(logging.Formatter().formatException(record.exc_info))
    return "\n".join(parts)


def stored(mailbox: Mailbox) -> str:
    """The mailbox row (its ciphertext aside) and its sync state, as stored."""
    mailbox.refresh_from_db()
    fields = model_to_dict(mailbox, exclude=["password_ciphertext"])
    states = list(MailboxSyncState.objects.filter(mailbox=mailbox).values())
    return repr(fields) + repr(states)


@pytest.fixture
def locked_out(cast: Cast, dovecot: Dovecot, imap_user: Credentials, settings: SettingsWrapper) -> Mailbox:
    """A mailbox on the real Dovecot (implicit TLS) whose stored password is wrong."""
    return tls_mailbox(cast.acme, dovecot, imap_user, settings, password=WRONG)


def test_a_failed_connection_check_shows_and_logs_no_password(
    cast: Cast,
    locked_out: Mailbox,
    dovecot: Dovecot,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    caplog.set_level(logging.DEBUG)

    outcome = check_connection(locked_out).imap
    cli = run_cli(capsys, monkeypatch, "mailbox", "check", str(locked_out.pk))
    cli_json = run_cli(capsys, monkeypatch, "mailbox", "check", str(locked_out.pk), "--json")
    api = as_user(cast.org_admin, "POST", f"/orgs/acme/mailboxes/{locked_out.pk}/check")
    form = mailbox_form_data(
        imap_host="localhost", imap_port=str(dovecot.imaps_port), username=locked_out.username, password=WRONG
    )
    page = client_for(cast.org_admin).post(reverse("mailbox-check-new", kwargs={"slug": "acme"}), form)

    assert outcome is not None and outcome.error_code == "login_failed", outcome
    assert cli.code == 1 and "IMAP: failed (login_failed)" in cli.out
    assert json.loads(cli_json.out)["imap"]["error"]["code"] == "login_failed"
    assert api.status_code == 200 and api.json()["imap"]["error"]["code"] == "login_failed"
    assert page.status_code == 200 and b"login_failed" in page.content
    everything = {
        "check error": f"{outcome.error_message} {outcome!r}",
        "command line": cli.out + cli.err + cli_json.out + cli_json.err,
        "API": api.content.decode(),
        "web page": page.content.decode(),
        "logs": logged(caplog),
        "stored": stored(locked_out),
    }
    assert caplog.records, "nothing was logged: the log check would prove nothing"
    assert [where for where, text in everything.items() if WRONG in text] == []


def test_a_failed_sync_stores_reports_and_logs_no_password(
    cast: Cast,
    locked_out: Mailbox,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    folder_of(locked_out)  # INBOX, ticked for sync
    caplog.set_level(logging.DEBUG)

    report = sync_mailbox(locked_out)
    cli_sync = run_cli(capsys, monkeypatch, "sync", "--mailbox", str(locked_out.pk), "--once")
    cli_status = run_cli(capsys, monkeypatch, "mailbox", "status", str(locked_out.pk), "--json")
    api = as_user(cast.org_admin, "GET", f"/orgs/acme/mailboxes/{locked_out.pk}")

    state = MailboxSyncState.objects.get(mailbox=locked_out)
    assert report.status == "failed" and state.last_error_code == "login_failed", report
    assert state.last_error and cli_sync.code == 1
    assert json.loads(cli_status.out)["error"]
    assert api.status_code == 200
    everything = {
        "report": repr(report),
        "stored": stored(locked_out),
        "command line": cli_sync.out + cli_sync.err + cli_status.out + cli_status.err,
        "API": api.content.decode(),
        "logs": logged(caplog),
    }
    assert caplog.records, "nothing was logged: the log check would prove nothing"
    assert [where for where, text in everything.items() if WRONG in text] == []


# --- Exception reports -------------------------------------------------------------------------------------


def _report_of_failing_save(
    cast: Cast, settings: SettingsWrapper, caplog: pytest.LogCaptureFixture
) -> tuple[str, str]:
    """Saving a new mailbox while no encryption key is configured: the 500's report as Django's error
    e-mail has it (text) and as the technical 500 page shows it (HTML), built the way AdminEmailHandler
    does from the logged error."""
    settings.POSTROOM_ENCRYPTION_KEYS = []
    client = client_for(cast.org_admin)
    client.raise_request_exception = False
    response = client.post(reverse("mailbox-new", kwargs={"slug": "acme"}), mailbox_form_data(password=WRONG))
    assert response.status_code == 500
    [record] = [r for r in caplog.records if r.name == "django.request" and r.levelno == logging.ERROR]
    assert record.exc_info is not None
    exc_type, exc_value, traceback = record.exc_info
    reporter = ExceptionReporter(record.__dict__["request"], exc_type, exc_value, traceback, is_email=True)
    return reporter.get_traceback_text(), reporter.get_traceback_html()


def test_exception_reports_hide_the_posted_password_and_the_frames_holding_it(
    cast: Cast, settings: SettingsWrapper, caplog: pytest.LogCaptureFixture
) -> None:
    text, html = _report_of_failing_save(cast, settings, caplog)

    assert "POSTROOM_ENCRYPTION_KEYS is empty" in text  # the report is of the failure we caused
    assert "set_password" in text  # through the frames that hold the password
    assert "sales@acme.example.com" in text  # the other POST parameters are there; the password is not
    assert WRONG not in text
    assert WRONG not in html


def test_exception_reports_hide_password_settings(settings: SettingsWrapper) -> None:
    settings.EMAIL_HOST_PASSWORD = WRONG
    settings.POSTROOM_SMTP_PASSWORD = WRONG
    request = RequestFactory().get("/")
    try:
        raise RuntimeError("boom")
    except RuntimeError:
        exc_type, exc_value, traceback = sys.exc_info()
        reporter = ExceptionReporter(request, exc_type, exc_value, traceback, is_email=True)
        text, html = reporter.get_traceback_text(), reporter.get_traceback_html()

    assert "EMAIL_HOST_PASSWORD" in text and "POSTROOM_SMTP_PASSWORD" in text
    assert WRONG not in text and WRONG not in html
