"""Quick Search in the configuration menu: the markup it works on (labelled input, live status, data
attributes, no inline script), and the filtering itself in Debian's Chromium against a live server."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from tests.conftest import Cast
from tests.factories import PASSWORD, make_mailbox
from tests.servers import chromium
from tests.web_support import client_for


def email_configuration(cast: Cast) -> str:
    return reverse("email-configuration", kwargs={"slug": cast.acme.slug})


# The markup -----------------------------------------------------------------------------------------------


def test_configuration_menu_has_a_labelled_quick_search_with_a_live_status(cast: Cast) -> None:
    page = client_for(cast.configurer).get(email_configuration(cast)).content.decode()

    assert '<label for="quicksearch">Quick Search</label>' in page
    assert re.search(r'<input type="search" id="quicksearch" data-quicksearch[^>]*aria-describedby="', page)
    assert 'data-quicksearch-status aria-live="polite"' in page
    assert '<script src="/static/postroom/quicksearch.js" defer></script>' in page


def test_quick_search_covers_sections_fields_and_mailbox_labels(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme, "Sales Desk")

    page = client_for(cast.configurer).get(email_configuration(cast)).content.decode()

    assert 'data-qs-item data-qs-text="Lead Sources' in page  # a menu section
    assert 'data-qs-item data-qs-text="Synchronization interval' in page  # a field of this page
    assert f'data-qs-item data-qs-text="Sales Desk {mailbox.email}"' in page  # the mailbox's table row
    edit = reverse("mailbox-edit", kwargs={"slug": cast.acme.slug, "mailbox_id": mailbox.pk})
    assert f'hidden><a href="{edit}">Mailbox: Sales Desk</a>' in page  # in the menu, shown when searched


def test_mailbox_form_fields_and_sections_are_searchable(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    url = reverse("mailbox-edit", kwargs={"slug": cast.acme.slug, "mailbox_id": mailbox.pk})

    page = client_for(cast.configurer).get(url).content.decode()

    assert 'data-qs-group data-qs-text="Synchronization Settings"' in page
    assert 'data-qs-item data-qs-text="IMAP Host' in page


def test_members_who_cannot_configure_get_no_quick_search(cast: Cast) -> None:
    page = client_for(cast.member).get(reverse("leads", kwargs={"slug": cast.acme.slug})).content.decode()

    assert "data-quicksearch" not in page and "Mailbox:" not in page


def test_configuration_pages_have_no_inline_script(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    urls = [
        email_configuration(cast),
        reverse("mailbox-edit", kwargs={"slug": cast.acme.slug, "mailbox_id": mailbox.pk}),
    ]
    for url in urls:
        page = client_for(cast.configurer).get(url).content.decode()
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
        assert not re.search(r"\son[a-z]+=", page)


# In a real browser ----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """Playwright's loop counts as running in this thread, so Django's async-safety check is off while the
    browser lives (this thread never shares a connection with async code)."""
    chromium.ensure_installed()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(
                executable_path=str(chromium.CHROMIUM), args=chromium.LAUNCH_ARGS
            )
            yield launched
            launched.close()


@pytest.fixture
def page(browser: Browser, live_server: LiveServer, transactional_db: None) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def logged_in(page: Page, email: str) -> None:
    page.goto("/login/")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)


def test_typing_filters_the_menu_and_the_page_and_announces_the_count(page: Page, cast: Cast) -> None:
    make_mailbox(cast.acme, "Support")
    make_mailbox(cast.acme, "Sales Desk")
    logged_in(page, cast.configurer.email)
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
    logged_in(page, cast.configurer.email)
    page.goto(email_configuration(cast))
    search = page.get_by_label("Quick Search")

    search.press_sequentially("zzzz")
    expect(page.locator("[data-quicksearch-status]")).to_have_text("No matches.")

    search.fill("")
    search.press_sequentially("templates")
    search.press("Enter")

    page.wait_for_url(re.compile(r"/configuration/templates/$"))
