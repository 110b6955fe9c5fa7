"""Mail through the browser: a message delivered into Dovecot becomes a case, is answered automatically
(seen at the SMTP server) and is readable by members with access only; a member answers it by hand from
the conversation and the answer reaches the SMTP server and joins the conversation.

The mailbox is made with the factories: configuring one in the browser is test_configure_mailbox's job.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import Page, expect

from postroom.crm.models import Case
from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from tests.autoresponse_helpers import make_rule, make_template, parsed
from tests.browser.support import MailAccount, log_in, run_worker_once, screenshot
from tests.conftest import Cast
from tests.factories import make_mailbox
from tests.mailbuilder import build
from tests.sync_helpers import append, tick

pytestmark = pytest.mark.browser
pytest_plugins = ["tests.servers.fixtures"]  # the real Dovecot and the test CA

CUSTOMER = "dana@customer.example"
SUBJECT = "Wo bleibt meine Bestellung 1042?"


@pytest.fixture
def help_desk(cast: Cast, mail_account: MailAccount) -> Mailbox:
    """A Convert To Case mailbox on the test servers, INBOX and Sent ticked, readable by the Support role
    (so by `cast.member`, not by `cast.loner`)."""
    mailbox = make_mailbox(
        cast.acme,
        "Help Desk",
        email=mail_account.address,
        imap_host="127.0.0.1",
        imap_port=mail_account.dovecot.imap_port,
        imap_encryption="none",
        smtp_enabled=True,
        smtp_host=mail_account.smtp.host,
        smtp_port=mail_account.smtp.port,
        smtp_encryption="starttls",
        username=mail_account.credentials.username,
        password=mail_account.credentials.password,
        process_type="case",
        owner=cast.org_admin,
        processing_enabled_at=timezone.now() - timedelta(minutes=1),
    )
    mailbox.access_roles.add(cast.support_role)
    tick(mailbox, "INBOX", "Sent")
    return mailbox


def deliver(account: MailAccount, mailbox: Mailbox) -> Message:
    """The customer's German mail lands in the INBOX; a worker pass syncs and processes it."""
    raw = build(
        subject=SUBJECT,
        sender=f"Dana Buyer <{CUSTOMER}>",
        to=f"Help Desk <{account.address}>",
        body="Hallo, meine Bestellung ist noch nicht da.\n",
        headers={"Content-Language": "de"},
    )
    append(account.dovecot, account.credentials, "INBOX", [raw])
    run_worker_once(mailbox)
    return Message.objects.get(organization=mailbox.organization, subject=SUBJECT)


def open_thread_from_mail_menu(page: Page, mailbox: Mailbox) -> None:
    page.get_by_role("link", name=mailbox.organization.name).click()  # a fresh login lists organizations
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Mail").click()
    page.get_by_role("link", name=mailbox.label, exact=True).click()
    expect(page.get_by_role("heading", name=re.compile(mailbox.label))).to_be_visible()
    screenshot(page, "flow2-mailbox")
    page.get_by_role("link", name=SUBJECT).click()


def test_delivered_mail_becomes_a_case_is_answered_and_stays_private(
    page: Page, other_page: Page, cast: Cast, mail_account: MailAccount, help_desk: Mailbox
) -> None:
    translations = [
        ("en", "Re: {{ message.subject }}", "We opened {{ record.number }} for you."),
        ("de", "AW: {{ message.subject }}", "Wir haben {{ record.number }} für Sie angelegt."),
    ]
    make_rule(
        help_desk,
        [("subject", "contains", "bestellung"), ("from", "not_contains", "noreply")],
        template=make_template(cast.acme, translations),
        activated_at=timezone.now() - timedelta(minutes=1),
    )

    message = deliver(mail_account, help_desk)

    case = Case.objects.get(message=message)
    assert (case.organization, case.owner, case.email) == (cast.acme, cast.org_admin, CUSTOMER)
    [auto_reply] = mail_account.smtp.messages
    assert auto_reply.rcpt_tos == (CUSTOMER,)
    answer = parsed(auto_reply.data)
    assert answer["Subject"] == f"AW: {SUBJECT}"
    assert answer["Auto-Submitted"] == "auto-replied"
    assert answer["In-Reply-To"] == f"<{message.message_id}>"
    assert f"Wir haben {case.reference} für Sie angelegt." in answer.get_content()

    log_in(page, cast.member.email)
    open_thread_from_mail_menu(page, help_desk)
    expect(page.get_by_text("Hallo, meine Bestellung ist noch nicht da.")).to_be_visible()
    screenshot(page, "flow2-thread")
    page.get_by_role("link", name=case.reference).click()
    expect(page.get_by_role("heading", name=f"{case.reference}: {SUBJECT}")).to_be_visible()
    screenshot(page, "flow2-case")

    log_in(other_page, cast.loner.email)
    other_page.goto(reverse("mail", kwargs={"slug": "acme"}))
    expect(other_page.get_by_text("No system mailboxes have been shared with you yet.")).to_be_visible()
    thread_url = reverse("mail-thread", kwargs={"slug": "acme", "thread_id": message.thread_id})
    response = other_page.goto(thread_url)
    assert response is not None and response.status == 404
    expect(other_page.get_by_text(SUBJECT)).to_have_count(0)
    screenshot(other_page, "flow2-thread-without-access")


REPLY = "Your order ships tomorrow."


def reply_from_thread(page: Page) -> None:
    """On the open conversation: Reply, write, Send; lands back on the conversation."""
    page.get_by_role("link", name="Reply", exact=True).click()
    expect(page.get_by_label("To")).to_have_value(re.compile(re.escape(CUSTOMER)))
    expect(page.get_by_label("Subject")).to_have_value(f"Re: {SUBJECT}")
    page.get_by_label("Message").fill(f"{REPLY}\n\nHelp Desk")
    screenshot(page, "flow3-reply-form")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_text(f"Your message to {CUSTOMER} is queued for sending.")).to_be_visible()


def test_member_replies_from_the_thread_and_the_reply_is_sent_and_shown(
    page: Page, cast: Cast, mail_account: MailAccount, help_desk: Mailbox
) -> None:
    message = deliver(mail_account, help_desk)
    assert mail_account.smtp.messages == []  # no rule: nothing was answered automatically
    log_in(page, cast.member.email)
    open_thread_from_mail_menu(page, help_desk)

    reply_from_thread(page)
    reply_shown = page.get_by_role("article").filter(has_text=REPLY)
    expect(reply_shown).to_contain_text("Queued")  # in the thread from the moment it is queued
    screenshot(page, "flow3-thread-reply-queued")
    run_worker_once(help_desk)  # sends it, and files a copy in the synced Sent folder

    [sent] = mail_account.smtp.messages
    assert (sent.mail_from, sent.rcpt_tos) == (mail_account.address, (CUSTOMER,))
    reply = parsed(sent.data)
    assert reply["Subject"] == f"Re: {SUBJECT}"
    assert reply["In-Reply-To"] == f"<{message.message_id}>"
    assert REPLY in reply.get_content()

    run_worker_once(help_desk)  # the next sync brings the Sent copy back: the same message, not a second
    page.reload()
    expect(reply_shown).to_have_count(1)
    expect(reply_shown).to_contain_text("Sent")
    expect(page.get_by_role("article")).to_have_count(2)
    screenshot(page, "flow3-thread-with-reply")
