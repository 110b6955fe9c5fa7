"""The seed's walkthrough, clicked through in Chromium: an organization admin adds a system mailbox on the
real Dovecot and SMTP server, retrieves and ticks its folders, converts its mail to cases, shares it, and
gives it an autoresponse rule with two conditions and a translated template. Then the database must hold
exactly what was typed."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from postroom.autoresponse.models import Rule
from postroom.mailboxes.models import Mailbox
from postroom.sync.models import Folder
from tests.browser.support import MailAccount, log_in, screenshot
from tests.conftest import Cast

pytestmark = pytest.mark.browser
pytest_plugins = ["tests.servers.fixtures"]  # the real Dovecot and the test CA


def fill_general_and_synchronization(page: Page, account: MailAccount) -> None:
    general = page.get_by_role("group", name="General")
    general.get_by_label("Mailbox Label").fill("Customer Care")
    general.get_by_label("Email").fill(account.address)

    sync = page.get_by_role("group", name="Synchronization Settings")
    expect(sync.get_by_label("Enable IMAP")).to_be_checked()
    sync.get_by_label("IMAP Host").fill("localhost")
    sync.get_by_label("IMAP Port").fill(str(account.dovecot.imaps_port))
    sync.get_by_role("combobox", name="IMAP Encryption", exact=True).select_option(label="SSL/TLS")
    sync.get_by_label("Enable SMTP").check()
    sync.get_by_label("SMTP Host").fill(account.smtp.host)
    sync.get_by_label("SMTP Port").fill(str(account.smtp.port))
    sync.get_by_role("combobox", name="SMTP Encryption", exact=True).select_option(label="STARTTLS")
    expect(sync.get_by_text("Leave empty to keep")).to_have_count(0)  # nothing stored to keep yet
    sync.get_by_role("textbox", name="User", exact=True).fill(account.credentials.username)
    sync.get_by_label("Password").fill(account.credentials.password)


def check_connection_and_tick_folders(page: Page) -> None:
    page.get_by_role("button", name="Check Connection/Retrieve Folders").click()
    folders = page.get_by_role("group", name="Folders to synchronize")
    expect(page.get_by_text("IMAP: connected and logged in.")).to_be_visible()
    expect(page.get_by_text("SMTP: connected and logged in.")).to_be_visible()
    expect(folders.get_by_label("Sent")).to_be_visible()
    folders.get_by_label("INBOX").check()
    folders.get_by_label("Archive").check()


def choose_convert_to_case(page: Page, cast: Cast) -> None:
    processing = page.get_by_role("group", name="Email Processing")
    expect(processing.get_by_label("Status")).to_be_hidden()  # only Convert To Case shows its settings
    processing.get_by_label("Convert To Case").check()
    processing.get_by_label("Owner").select_option(label=cast.org_admin.email)
    processing.get_by_label("Assign To").select_option(label=cast.member.email)
    processing.get_by_label("Status").select_option(label="In Progress")
    processing.get_by_label("Priority").select_option(label="High")


def grant_access(page: Page, cast: Cast) -> None:
    access = page.get_by_role("group", name="Access Management")
    access.get_by_label(cast.support_role.name).check()
    access.get_by_label(cast.configurer.email).check()


def add_rule(page: Page) -> None:
    page.get_by_role("link", name="Add Rule").click()
    expect(page.get_by_role("heading", name="Add Rule")).to_be_visible()
    page.get_by_label("Name").fill("Order questions")
    first = page.get_by_role("group", name="Condition 1")
    first.get_by_label("Field").select_option(label="Subject")
    first.get_by_label("Operator").select_option(label="contains")
    first.get_by_label("Value").fill("order")
    page.get_by_role("button", name="+ Add", exact=True).click()  # a round trip that keeps what was typed
    second = page.get_by_role("group", name="Condition 2")
    second.get_by_label("Field").select_option(label="From")
    second.get_by_label("Operator").select_option(label="does not contain")
    second.get_by_label("Value").fill("noreply")

    page.get_by_label("Type").select_option(label="Plain text")
    english = page.get_by_role("group", name="Translation 1 — en")
    english.get_by_label("Subject").fill("Re: {{ message.subject }}")
    english.get_by_label("Content").fill("We opened {{ record.number }} for you.")
    page.get_by_role("button", name="+ Add language").click()
    german = page.get_by_role("group", name="Translation 2", exact=True)
    german.get_by_label("Language").fill("de")
    german.get_by_label("Subject").fill("AW: {{ message.subject }}")
    german.get_by_label("Content").fill("Wir haben {{ record.number }} für Sie angelegt.")
    expect(page.get_by_role("group", name="Condition 1").get_by_label("Value")).to_have_value("order")
    screenshot(page, "flow1-rule-form")
    page.get_by_role("button", name="Save", exact=True).click()


def test_admin_configures_a_mailbox_as_the_seed_walkthrough_does(
    page: Page, cast: Cast, mail_account: MailAccount
) -> None:
    log_in(page, cast.org_admin.email)
    expect(page.get_by_role("heading", name="Organizations")).to_be_visible()  # a fresh login lands here
    page.get_by_role("link", name=cast.acme.name).click()
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Configuration").click()
    page.get_by_role("navigation", name="Organization").get_by_role(
        "link", name="Email Configuration"
    ).click()
    expect(page.get_by_role("heading", name="System Mailboxes")).to_be_visible()
    screenshot(page, "flow1-email-configuration")
    page.get_by_role("link", name="Add Mailbox").click()

    fill_general_and_synchronization(page, mail_account)
    check_connection_and_tick_folders(page)
    choose_convert_to_case(page, cast)
    grant_access(page, cast)
    screenshot(page, "flow1-mailbox-form")
    page.get_by_role("button", name="Save Settings").click()
    expect(page.get_by_text("Mailbox “Customer Care” saved.")).to_be_visible()

    page.get_by_role("link", name="Customer Care", exact=True).click()
    add_rule(page)
    expect(page.get_by_text("Rule “Order questions” saved.")).to_be_visible()
    expect(page.get_by_role("link", name="Order questions", exact=True)).to_be_visible()
    screenshot(page, "flow1-mailbox-with-rule")
    page.get_by_role("button", name="Save Settings").click()
    expect(page.get_by_text("Mailbox “Customer Care” saved.")).to_be_visible()

    mailbox = Mailbox.objects.get(organization=cast.acme)
    assert (mailbox.label, mailbox.email, mailbox.username) == (
        "Customer Care",
        mail_account.address,
        mail_account.address,
    )
    assert mailbox.get_password() == mail_account.credentials.password
    assert (mailbox.imap_host, mailbox.imap_port, mailbox.imap_encryption) == (
        "localhost",
        mail_account.dovecot.imaps_port,
        "ssl",
    )
    assert mailbox.smtp_enabled
    assert (mailbox.smtp_host, mailbox.smtp_port, mailbox.smtp_encryption) == (
        mail_account.smtp.host,
        mail_account.smtp.port,
        "starttls",
    )
    selected = Folder.objects.filter(mailbox=mailbox, selected=True).values_list("name", flat=True)
    assert sorted(selected) == ["Archive", "INBOX"]
    assert Folder.objects.filter(mailbox=mailbox, name="Sent", selected=False).exists()
    assert (mailbox.process_type, mailbox.owner, mailbox.case_assignee) == (
        "case",
        cast.org_admin,
        cast.member,
    )
    assert (mailbox.case_status, mailbox.case_priority) == ("in_progress", "high")
    assert mailbox.processing_enabled_at is not None
    assert list(mailbox.access_roles.all()) == [cast.support_role]
    assert list(mailbox.access_users.all()) == [cast.configurer]

    rule = Rule.objects.get(mailbox=mailbox)
    assert (rule.name, rule.active, rule.match_mode) == ("Order questions", True, "all")
    conditions = [(c.field, c.operator, c.value) for c in rule.conditions.order_by("position")]
    assert conditions == [("subject", "contains", "order"), ("from", "not_contains", "noreply")]
    translations = {t.language: (t.subject, t.content) for t in rule.template.translations.all()}
    assert translations == {
        "en": ("Re: {{ message.subject }}", "We opened {{ record.number }} for you."),
        "de": ("AW: {{ message.subject }}", "Wir haben {{ record.number }} für Sie angelegt."),
    }
    assert rule.template.rule_owned and rule.template.type == "text"
