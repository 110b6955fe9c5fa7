"""Helpers for the browser tests: logging in through the login page, screenshots, one worker pass, and
the mail account the tests configure in the browser."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Page

from postroom.mailboxes.models import Mailbox
from postroom.outbox.send import send_due
from postroom.processing.runner import run_due_jobs
from postroom.sync.engine import sync_mailbox
from tests.factories import PASSWORD
from tests.servers.dovecot import Credentials, Dovecot
from tests.servers.smtp import SmtpServer

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@dataclass(frozen=True)
class MailAccount:
    """One login that works on both servers, as a real provider's mailbox does: the mailbox form has a
    single User/Password for IMAP and SMTP."""

    credentials: Credentials
    dovecot: Dovecot
    smtp: SmtpServer

    @property
    def address(self) -> str:
        return self.credentials.username


def run_worker_once(mailbox: Mailbox) -> None:
    """What a worker does when mail arrives: sync the mailbox, run its processing jobs (conversion,
    auto-response), then send what the outbox holds."""
    report = sync_mailbox(mailbox)
    assert report.status == "ok", report
    run_due_jobs()
    send_due()


def screenshot(page: Page, name: str) -> None:
    """A full-page PNG under test-artifacts/ (not committed), to look at after a run."""
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def log_in(page: Page, email: str) -> None:
    page.goto("/login/")
    screenshot(page, "login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)
