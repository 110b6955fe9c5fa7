"""Browser tests: Debian's Chromium, driven through Playwright's sync API, against pytest-django's live
server (a thread serving the test database), with the real Dovecot and an SMTP server from tests/servers.

There is no worker process: a test runs the sync, the processing jobs and the outbox itself between
browser steps (`run_worker_once`), exactly the functions a worker runs, so every step is deterministic.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright
from pytest_django.fixtures import Settings as SettingsWrapper
from pytest_django.live_server_helper import LiveServer

from tests.browser.support import MailAccount
from tests.servers import chromium
from tests.servers.certs import TestCertificates
from tests.servers.dovecot import Dovecot
from tests.servers.smtp import SmtpServer

# Every wait (actions and expect): long enough for a Check Connection against Dovecot on a busy 2-core CI
# machine, short enough to fail fast.
TIMEOUT_MS = 20_000
_accounts = itertools.count(1)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One headless Chromium per test module.

    Per module, not per session: while Playwright runs, its asyncio loop counts as "running" in this
    thread, so Django's async-safety check would refuse every ORM call a test makes between browser steps.
    The check is switched off only while the browser exists (this thread never shares a connection with
    async code), and the browser is gone before a later, non-browser module runs in the same worker.
    """
    chromium.ensure_installed()
    expect.set_options(timeout=TIMEOUT_MS)
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(
                executable_path=str(chromium.CHROMIUM), args=chromium.LAUNCH_ARGS
            )
            yield launched
            launched.close()


def _fresh_page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    context.set_default_timeout(TIMEOUT_MS)
    yield context.new_page()
    context.close()


@pytest.fixture
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A fresh browser context (no cookies) whose relative URLs go to the live server."""
    yield from _fresh_page(browser, live_server)


@pytest.fixture
def other_page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    """A second, separate browser (its own cookies): another person using Postroom at the same time."""
    yield from _fresh_page(browser, live_server)


@pytest.fixture(autouse=True)
def trust_test_ca(settings: SettingsWrapper, test_certs: TestCertificates) -> None:
    """The live server's thread reads the same settings, so its connection checks trust the test CA."""
    settings.POSTROOM_EXTRA_CA_FILE = str(test_certs.ca_path)


@pytest.fixture(scope="module")
def _browser_smtp(test_certs: TestCertificates) -> Iterator[SmtpServer]:
    server = SmtpServer(test_certs)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def mail_account(dovecot: Dovecot, _browser_smtp: SmtpServer) -> MailAccount:
    """A fresh Dovecot user, and the browser tests' own SMTP server (STARTTLS, AUTH) accepting the same
    login, with nothing recorded yet."""
    credentials = dovecot.add_user(f"desk{next(_accounts)}@browser.test", f"pw-{next(_accounts)}-Bq!")
    _browser_smtp.reset()
    _browser_smtp.handler.credentials = credentials
    return MailAccount(credentials, dovecot, _browser_smtp)
