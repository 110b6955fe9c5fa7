"""Quick Search in Debian's Chromium against a live server: typing filters the configuration menu and
the page and announces the count, Escape clears, Enter opens the first match."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from tests.browser.support import log_in
from tests.conftest import Cast
from tests.factories import make_mailbox

pytestmark = pytest.mark.browser
pytest_plugins = ["tests.servers.fixtures"]  # the test CA the browser conftest trusts


def email_configuration(cast: Cast) -> str:
    return reverse("email-configuration", kwargs={"slug": cast.acme.slug})


def test_typing_filters_the_menu_and_the_page_and_announces_the_count(page: Page, cast: Cast) -> None:
    make_mailbox(cast.acme, "Support")
    make_mailbox(cast.acme, "Sales Desk")
    log_in(page, cast.configurer.email)
    page.goto(email_configuration(cast))
    search = page.get_by_label("Quick Search")
    status = page.locator("[data-quicksearch-status]")
    menu = page.get_by_role("navigation", name="Organization")

    search.press_sequentially("sales")

    expect(status).to_have_text("2 matches.")  # the menu's mailbox entry and the table row
    expect(menu.get_by_role("link", name="Mailbox: Sales Desk")).to_be_visible()
    expect(menu.get_by_role("link", name="Lead Sources")).to_be_hidden()
    expect(page.get_by_role("row", name=re.compile("Support"))).to_be_hidden()
    expect(page.get_by_role("row", name=re.compile("Sales Desk"))).to_be_visible()

    search.fill("")
    search.press_sequentially("sync interval")

    expect(page.get_by_label("Synchronization interval (minutes)")).to_be_visible()
    expect(page.get_by_role("heading", name="System Mailboxes")).to_be_hidden()
    expect(menu.get_by_role("link", name="Email Configuration")).to_be_visible()

    search.press("Escape")

    expect(search).to_have_value("")
    expect(menu.get_by_role("link", name="Lead Sources")).to_be_visible()
    expect(menu.get_by_role("link", name="Mailbox: Support")).to_be_hidden()
    expect(page.get_by_role("row", name=re.compile("Support"))).to_be_visible()


def test_no_match_is_announced_and_enter_opens_the_first_match(page: Page, cast: Cast) -> None:
    log_in(page, cast.configurer.email)
    page.goto(email_configuration(cast))
    search = page.get_by_label("Quick Search")

    search.press_sequentially("zzzz")
    expect(page.locator("[data-quicksearch-status]")).to_have_text("No matches.")

    search.fill("")
    search.press_sequentially("templates")
    search.press("Enter")

    page.wait_for_url(re.compile(r"/configuration/templates/$"))
