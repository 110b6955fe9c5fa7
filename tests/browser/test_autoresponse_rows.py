"""In Chromium: "+ Add" and "x" on the rule form change the condition and translation rows in place —
no page load, what was typed kept, the keyboard focus on the new row — and the rule saves as shown."""

from __future__ import annotations

import pytest
from django.urls import reverse
from playwright.sync_api import Page, expect

from postroom.autoresponse.models import Rule
from tests.browser.support import log_in
from tests.conftest import Cast
from tests.factories import make_mailbox

pytestmark = pytest.mark.browser
pytest_plugins = ["tests.servers.fixtures"]  # the test CA the browser conftest trusts


def test_rows_are_added_and_removed_in_place_and_the_rule_saves(page: Page, cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    log_in(page, cast.org_admin.email)
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
