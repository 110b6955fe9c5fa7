"""In Chromium: "+ Add" and "x" on the rule form change the condition and translation rows in place —
no page load, what was typed kept, the keyboard focus on the new row — and the rule saves as shown."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.urls import reverse
from playwright.sync_api import Browser, Page, expect, sync_playwright
from pytest_django.live_server_helper import LiveServer

from postroom.autoresponse.models import Rule
from tests.conftest import Cast
from tests.factories import PASSWORD, make_mailbox
from tests.servers import chromium

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    # Playwright's loop counts as "running" in this thread: Django's async-safety check would refuse the
    # ORM calls a test makes between browser steps (this thread never shares a connection with async code).
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
def page(browser: Browser, live_server: LiveServer) -> Iterator[Page]:
    context = browser.new_context(base_url=live_server.url)
    context.set_default_timeout(20_000)
    yield context.new_page()
    context.close()


def test_rows_are_added_and_removed_in_place_and_the_rule_saves(page: Page, cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    page.goto("/login/")
    page.get_by_label("Email").fill(cast.org_admin.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(lambda url: "/login/" not in url)
    page.goto(reverse("rule-new", kwargs={"slug": "acme", "mailbox_id": mailbox.pk}))
    page.evaluate("window.notReloaded = true")  # gone if the page loads again
    page.get_by_label("Name").fill("Orders")
    page.locator("#condition-0-value").fill("order")

    page.get_by_role("button", name="+ Add", exact=True).click()
    expect(page.locator(".condition-row")).to_have_count(2)
    expect(page.locator("#condition-1-field")).to_be_focused()
    page.locator("#condition-1-field").select_option("from")
    page.locator("#condition-1-operator").select_option("ends_with")
    page.locator("#condition-1-value").fill("@example.org")
    page.get_by_role("button", name="+ Add language").click()
    expect(page.locator(".translation")).to_have_count(2)
    page.get_by_role("button", name="x remove condition 1").click()
    expect(page.locator(".condition-row")).to_have_count(1)
    page.locator('button[name="remove"][value="translation-1"]').click()
    expect(page.locator(".translation")).to_have_count(1)

    assert page.evaluate("window.notReloaded") is True
    expect(page.locator("#condition-0-value")).to_have_value("@example.org")
    expect(page.get_by_label("Name")).to_have_value("Orders")
    page.locator("#translation-0-content").fill("Thanks, we got it.")
    page.get_by_role("button", name="Save").click()
    page.wait_for_url("**" + reverse("mailbox-edit", kwargs={"slug": "acme", "mailbox_id": mailbox.pk}))
    rule = Rule.objects.get()
    assert [(c.field, c.operator, c.value) for c in rule.conditions.all()] == [
        ("from", "ends_with", "@example.org")
    ]
