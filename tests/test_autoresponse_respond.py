"""Auto-responses end to end: rules decide, the outbox sends through a real SMTP server on loopback, and
loop protection keeps two auto-responders from answering each other."""

from __future__ import annotations

from datetime import timedelta
from email.utils import getaddresses
from typing import Any

import pytest
from django.utils import timezone

from postroom.autoresponse.models import AutoReply, TemplateType
from postroom.autoresponse.respond import (
    FAILED,
    REPLIED,
    SKIPPED,
    ResponseOutcome,
    remember_answered,
    respond_to,
)
from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.organizations import config
from postroom.outbox import send
from postroom.outbox.models import OutgoingMessage, Status
from postroom.processing import batchcache
from postroom.sync.models import Folder, Placement
from tests.autoresponse_helpers import ACTIVE_SINCE, make_rule, make_template, parsed, smtp_mailbox, stored
from tests.conftest import Cast
from tests.mailbuilder import build
from tests.processing_helpers import converted_lead
from tests.servers.ports import free_port
from tests.servers.smtp import Received, SmtpServer
from tests.web_support import client_for

pytestmark = pytest.mark.django_db(transaction=True)
pytest_plugins = ["tests.servers.fixtures"]

ANN = "Ann Sender <ann@example.org>"
BOB = "Bob Sender <bob@example.org>"


@pytest.fixture(autouse=True)
def trust_test_ca(settings: object, test_certs: object) -> None:
    settings.POSTROOM_EXTRA_CA_FILE = str(test_certs.ca_path)  # type: ignore[attr-defined]


@pytest.fixture
def support(cast: Cast, smtp_server: SmtpServer) -> Mailbox:
    return smtp_mailbox(cast.acme, smtp_server)


def incoming(mailbox: Mailbox, folder_kind: str = "inbox", **mail: Any) -> tuple[Message, ResponseOutcome]:
    """Store a message built from `mail` for the mailbox's organization and run the step on it."""
    mail.setdefault("sender", ANN)
    mail.setdefault("to", mailbox.email)
    message = stored(mailbox.organization, build(**mail))
    return message, respond_to(message, mailbox, folder_kind, timezone.now())


def deliver_all() -> None:
    for pk in OutgoingMessage.objects.values_list("pk", flat=True):
        send.deliver(pk)


def only(server: SmtpServer) -> Received:
    [received] = server.messages
    return received


def test_reply_headers_as_the_smtp_server_received_them(support: Mailbox, smtp_server: SmtpServer) -> None:
    make_rule(
        support,
        template=make_template(
            support.organization, [("en", "Re: {{ message.subject }}", "Hi {{ message.sender_name }}")]
        ),
    )
    parent_ids = ["<root@example.org>", "<middle@example.org>"]
    message, outcome = incoming(
        support,
        subject="Where is my parcel?",
        message_id="<parcel-1@example.org>",
        references=parent_ids,
        in_reply_to="<middle@example.org>",
        headers={"Reply-To": "Ann's Desk <desk@example.org>"},
    )
    assert outcome.status == REPLIED, outcome.reason

    deliver_all()

    received = only(smtp_server)
    reply = parsed(received.data)
    assert received.rcpt_tos == ("desk@example.org",)
    assert getaddresses([str(reply["From"])]) == [(support.label, support.email)]
    assert getaddresses([str(reply["To"])])[0][1] == "desk@example.org"
    assert reply["Subject"] == "Re: Where is my parcel?"
    assert reply["In-Reply-To"] == "<parcel-1@example.org>"
    assert reply["References"].split() == [*parent_ids, "<parcel-1@example.org>"]
    assert reply["Auto-Submitted"] == "auto-replied"
    assert reply["X-Auto-Response-Suppress"] == "All"
    outgoing = OutgoingMessage.objects.get()
    assert reply["Message-ID"].strip("<>").lower() == outgoing.message_id
    assert reply.get_content().strip() == "Hi Ann Sender"
    assert outgoing.in_reply_to_id == message.pk and outgoing.thread_id == message.thread_id


def test_sent_reply_joins_the_thread_of_the_message_it_answers(support: Mailbox) -> None:
    make_rule(support)
    message, _ = incoming(support)

    deliver_all()

    outgoing = OutgoingMessage.objects.get()
    assert outgoing.stored_message_id is not None
    assert Message.objects.get(pk=outgoing.stored_message_id).thread_id == message.thread_id


def test_two_organizations_answering_each_other_stop_after_the_first_automatic_reply(
    cast: Cast, smtp_server: SmtpServer
) -> None:
    acme = smtp_mailbox(cast.acme, smtp_server)
    globex = smtp_mailbox(cast.globex, smtp_server)
    make_rule(acme)
    make_rule(globex)
    # A person at Globex writes to Acme from Globex's system mailbox address.
    _, outcome = incoming(acme, sender=f"Globex <{globex.email}>", subject="Partnership")
    assert outcome.status == REPLIED
    deliver_all()
    acme_reply = only(smtp_server)
    assert acme_reply.rcpt_tos == (globex.email,)

    # Acme's automatic reply lands in Globex's inbox: Globex's rule must not answer it.
    arrived = stored(cast.globex, acme_reply.data)
    back = respond_to(arrived, globex, "inbox", timezone.now())

    assert back.status == SKIPPED and "Auto-Submitted: auto-replied" in back.reason
    assert OutgoingMessage.objects.filter(mailbox=globex).count() == 0
    deliver_all()
    assert len(smtp_server.messages) == 1


@pytest.mark.parametrize(
    ("headers", "reason"),
    [
        ({"X-Autoreply": "yes"}, "X-Autoreply"),
        ({"Auto-Submitted": "auto-replied"}, "Auto-Submitted"),
        ({"X-Auto-Response-Suppress": "OOF"}, "X-Auto-Response-Suppress"),
    ],
)
def test_an_out_of_office_reply_to_our_reply_gets_no_answer(
    support: Mailbox, smtp_server: SmtpServer, headers: dict[str, str], reason: str
) -> None:
    make_rule(support)
    incoming(support, subject="Question")
    deliver_all()
    ours = parsed(only(smtp_server).data)

    _, outcome = incoming(
        support,
        sender="Ann Sender <ann@example.org>",
        subject="Out of office: " + str(ours["Subject"]),
        in_reply_to=str(ours["Message-ID"]),
        headers=headers,
    )

    assert outcome.status == SKIPPED and reason in outcome.reason
    assert OutgoingMessage.objects.count() == 1


def test_a_bounce_of_our_reply_gets_no_answer(support: Mailbox, smtp_server: SmtpServer) -> None:
    make_rule(support)
    incoming(support, subject="Question")
    deliver_all()
    ours = only(smtp_server).data
    bounce = (
        b"From: Mail Delivery <mail@mx.example.org>\r\n"
        b"To: " + support.email.encode() + b"\r\n"
        b"Subject: Undelivered Mail Returned to Sender\r\n"
        b"Message-ID: <bounce-1@mx.example.org>\r\n"
        b"MIME-Version: 1.0\r\n"
        b'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\r\n\r\n'
        b"--B\r\nContent-Type: text/plain\r\n\r\nYour message could not be delivered.\r\n"
        b"--B\r\nContent-Type: message/delivery-status\r\n\r\nReporting-MTA: dns; mx.example.org\r\n\r\n"
        b"Final-Recipient: rfc822; ann@example.org\r\nAction: failed\r\nStatus: 5.1.1\r\n\r\n"
        b"--B\r\nContent-Type: message/rfc822\r\n\r\n" + ours + b"\r\n--B--\r\n"
    )
    message = stored(support.organization, bounce)

    outcome = respond_to(message, support, "inbox", timezone.now())

    assert outcome.status == SKIPPED and "Delivery report" in outcome.reason
    assert OutgoingMessage.objects.count() == 1


@pytest.mark.parametrize(
    ("mail", "reason"),
    [
        ({"headers": {"Precedence": "bulk"}}, "Precedence"),
        ({"headers": {"List-Id": "<news.example.org>"}}, "Mailing-list"),
        ({"headers": {"List-Unsubscribe": "<mailto:leave@example.org>"}}, "Mailing-list"),
        ({"headers": {"Return-Path": "<>"}}, "Return-Path"),
        ({"headers": {"Return-Path": "<MAILER-DAEMON@mx.example.org>"}}, "Return-Path"),
        ({"sender": "Shop <no-reply@shop.example>"}, "No-reply"),
        ({"sender": "Shop <noreply+42@shop.example>"}, "No-reply"),
        ({"sender": "Shop <DoNotReply@shop.example>"}, "No-reply"),
        ({"sender": "MAILER-DAEMON@mx.example.org"}, "No-reply"),
        ({"headers": {"Reply-To": "postmaster@example.org"}}, "No-reply"),
    ],
)
def test_automated_mail_is_never_answered(support: Mailbox, mail: dict[str, Any], reason: str) -> None:
    make_rule(support)

    _, outcome = incoming(support, **mail)

    assert outcome.status == SKIPPED and reason in outcome.reason
    assert not OutgoingMessage.objects.exists()


def test_auto_submitted_no_is_answered(support: Mailbox) -> None:
    make_rule(support)
    _, outcome = incoming(support, headers={"Auto-Submitted": "no"})
    assert outcome.status == REPLIED


def test_mail_from_any_mailbox_of_the_organization_is_not_answered(
    cast: Cast, support: Mailbox, smtp_server: SmtpServer
) -> None:
    sales = smtp_mailbox(cast.acme, smtp_server, label="Sales")
    make_rule(support)

    _, outcome = incoming(support, sender=f"Sales <{sales.email.upper()}>")

    assert outcome.status == SKIPPED and "mailbox of this organization" in outcome.reason


def test_mail_in_sent_drafts_trash_or_spam_is_not_answered(support: Mailbox) -> None:
    make_rule(support)
    for kind in ("sent", "drafts", "trash", "spam", "archive"):
        _, outcome = incoming(support, folder_kind=kind)
        assert outcome.status == SKIPPED and "Not an incoming folder" in outcome.reason
    _, outcome = incoming(support, folder_kind="other")
    assert outcome.status == REPLIED


def test_mail_received_before_the_rule_became_active_is_not_answered(support: Mailbox) -> None:
    make_rule(support, activated_at=timezone.now() + timedelta(hours=1))
    _, outcome = incoming(support)
    assert outcome.status == SKIPPED and "before the rule became active" in outcome.reason


def test_inactive_rules_do_not_answer(support: Mailbox) -> None:
    make_rule(support, active=False)
    _, outcome = incoming(support)
    assert outcome.status == SKIPPED and not OutgoingMessage.objects.exists()


def test_a_message_is_answered_once_per_rule_however_often_it_is_processed(support: Mailbox) -> None:
    make_rule(support)
    config.set_value("email.autoresponse_limit_hours", 0, support.organization)
    message, first = incoming(support)

    again = respond_to(message, support, "inbox", timezone.now())

    assert first.status == REPLIED and again.status == SKIPPED and "already answered" in again.reason
    assert AutoReply.objects.count() == 1 and OutgoingMessage.objects.count() == 1


def test_one_automatic_reply_per_sender_within_the_limit(support: Mailbox, smtp_server: SmtpServer) -> None:
    make_rule(support)
    _, first = incoming(support, subject="One")
    _, second = incoming(support, subject="Two")
    _, other = incoming(support, subject="Three", sender="Bob <bob@example.net>")

    assert first.status == REPLIED and other.status == REPLIED
    assert second.status == SKIPPED and "last 24 hours" in second.reason
    deliver_all()
    assert sorted(r.rcpt_tos[0] for r in smtp_server.messages) == ["ann@example.org", "bob@example.net"]


def test_the_rate_limit_is_configurable_per_organization(support: Mailbox) -> None:
    make_rule(support)
    config.set_value("email.autoresponse_limit_hours", 0, support.organization)
    outcomes = [incoming(support, subject=f"Message {n}")[1].status for n in range(3)]
    assert outcomes == [REPLIED] * 3


def test_first_matching_rule_answers_unless_it_lets_later_rules_answer(support: Mailbox) -> None:
    config.set_value("email.autoresponse_limit_hours", 0, support.organization)
    first = make_rule(support, [("subject", "contains", "order")], name="Orders")
    make_rule(support, name="Everything")

    _, outcome = incoming(support, subject="My order")
    assert outcome.status == REPLIED and len(outcome.outgoing_ids) == 1 and "Orders" in outcome.reason

    first.lets_later_rules_answer = True
    first.save()
    _, outcome = incoming(support, subject="Another order", sender="Bob <bob@example.net>")
    assert len(outcome.outgoing_ids) == 2

    _, outcome = incoming(support, subject="Hello", sender="Cy <cy@example.net>")
    assert "Everything" in outcome.reason and len(outcome.outgoing_ids) == 1


def test_in_a_processing_batch_a_chain_of_rules_answers_and_earlier_answers_count(support: Mailbox) -> None:
    """A batch knows which messages were answered when it began, and asks the database only about those."""
    config.set_value("email.autoresponse_limit_hours", 0, support.organization)
    make_rule(support, name="Orders", lets_later_rules_answer=True)
    make_rule(support, name="Everything")
    message = stored(support.organization, build(sender=ANN, to=support.email, subject="My order"))
    answered_before = stored(support.organization, build(sender=BOB, to=support.email))
    respond_to(answered_before, support, "inbox", timezone.now())

    with batchcache.batch():
        remember_answered({(support.pk, answered_before.pk)})
        first = respond_to(message, support, "inbox", timezone.now())
        before = respond_to(answered_before, support, "inbox", timezone.now())

    assert first.status == REPLIED and len(first.outgoing_ids) == 2
    assert before.status == SKIPPED and "already answered this message" in before.reason
    assert AutoReply.objects.filter(message=message).count() == 2
    assert AutoReply.objects.filter(message=answered_before).count() == 2


def test_in_a_processing_batch_a_rule_answers_a_message_once(support: Mailbox) -> None:
    """The batch remembers what it answered: a second try is refused as answered, not as a sender
    answered within the limit."""
    make_rule(support, name="Orders")
    message = stored(support.organization, build(sender=ANN, to=support.email))

    with batchcache.batch():
        remember_answered(set())
        first = respond_to(message, support, "inbox", timezone.now())
        again = respond_to(message, support, "inbox", timezone.now())

    assert first.status == REPLIED
    assert again.status == SKIPPED and again.reason == "Rule “Orders” already answered this message."
    assert AutoReply.objects.count() == OutgoingMessage.objects.count() == 1


def test_links_to_records_in_one_batch_name_each_record(
    cast: Cast, support: Mailbox, smtp_server: SmtpServer
) -> None:
    config.set_value("email.autoresponse_limit_hours", 0, support.organization)
    make_rule(
        support,
        template=make_template(support.organization, [("en", "{{ record.number }}", "{{ record.link }}")]),
    )
    leads = [converted_lead(cast.acme, cast.org_admin, sender=f"P{i} <p{i}@example.org>") for i in range(2)]

    with batchcache.batch():
        for lead in leads:
            respond_to(Message.objects.get(pk=lead.message_id), support, "inbox", timezone.now(), record=lead)

    deliver_all()
    links = sorted(parsed(received.data).get_content().strip() for received in smtp_server.messages)
    assert links == sorted(f"/o/acme/leads/{lead.pk}/" for lead in leads)


def test_no_matching_rule_says_which_condition_failed(support: Mailbox) -> None:
    make_rule(support, [("subject", "contains", "invoice")], name="Invoices")
    _, outcome = incoming(support, subject="Hello")
    assert outcome.status == SKIPPED and "Subject contains “invoice”" in outcome.reason


def test_a_template_reaching_for_python_internals_is_refused_and_nothing_is_sent(support: Mailbox) -> None:
    evil = "{{ message.__class__.__mro__[1].__subclasses__() }}"
    make_rule(support, template=make_template(support.organization, [("en", "Hi", evil)]))

    _, outcome = incoming(support)

    assert outcome.status == FAILED and "Refused by the template sandbox" in outcome.reason
    assert not OutgoingMessage.objects.exists() and not AutoReply.objects.exists()


def test_a_template_running_too_long_is_reported_not_sent(support: Mailbox) -> None:
    loop = "{% for i in range(100000000) %}x{% endfor %}"
    make_rule(support, template=make_template(support.organization, [("en", "Hi", loop)]))

    _, outcome = incoming(support)

    assert outcome.status == FAILED and "range()" in outcome.reason
    assert not OutgoingMessage.objects.exists()


def test_an_html_template_sends_html_with_a_text_alternative(
    support: Mailbox, smtp_server: SmtpServer
) -> None:
    content = "<p>Dear {{ message.sender_name }}, we got <b>{{ message.subject }}</b>.</p>"
    make_rule(
        support,
        template=make_template(support.organization, [("en", "Thanks", content)], kind=TemplateType.HTML),
    )

    incoming(support, subject="<script>x</script>")
    deliver_all()

    reply = parsed(only(smtp_server).data)
    html = reply.get_body(("html",))
    text = reply.get_body(("plain",))
    assert html is not None and text is not None
    assert "<b>&lt;script&gt;x&lt;/script&gt;</b>" in html.get_content()  # escaped: autoescape on
    assert "Dear Ann Sender" in text.get_content() and "<p>" not in text.get_content()


@pytest.mark.parametrize(
    ("base_url", "link"),
    [
        ("https://mail.acme.example", "https://mail.acme.example/o/acme/leads/{pk}/"),
        ("", "/o/acme/leads/{pk}/"),
    ],
)
def test_template_can_quote_and_link_the_lead_created_from_the_message(
    cast: Cast, support: Mailbox, smtp_server: SmtpServer, settings: Any, base_url: str, link: str
) -> None:
    settings.POSTROOM_BASE_URL = base_url
    make_rule(
        support,
        template=make_template(
            support.organization, [("en", "Your ticket {{ record.number }}", "See {{ record.link }}")]
        ),
    )
    lead = converted_lead(cast.acme, cast.org_admin, sender=ANN)
    message = Message.objects.get(pk=lead.message_id)

    outcome = respond_to(message, support, "inbox", timezone.now(), record=lead)

    assert outcome.status == REPLIED
    deliver_all()
    reply = parsed(only(smtp_server).data)
    assert reply["Subject"] == f"Your ticket {lead.reference}"
    assert reply.get_content().strip() == "See " + link.format(pk=lead.pk)


TRANSLATIONS = [("en", "Thanks", "EN"), ("de", "Danke", "DE"), ("fr", "Merci", "FR")]


@pytest.mark.parametrize(
    ("content_language", "default", "expected"),
    [
        ("de", "en", "Danke"),
        ("en-GB", "de", "Thanks"),
        ("de-AT, en;q=0.5", "en", "Danke"),
        ("fr;q=0.4, de;q=0.9", "en", "Danke"),
        ("", "fr", "Merci"),
        ("it", "fr", "Merci"),
        ("it", "pl", "Thanks"),  # neither the message's nor the default language: first translation
    ],
)
def test_reply_language_follows_the_message_then_the_organization_default(
    support: Mailbox, smtp_server: SmtpServer, content_language: str, default: str, expected: str
) -> None:
    config.set_value("email.default_language", default, support.organization)
    make_rule(support, template=make_template(support.organization, TRANSLATIONS))
    headers = {"Content-Language": content_language} if content_language else {}

    incoming(support, headers=headers)
    deliver_all()

    assert parsed(only(smtp_server).data)["Subject"] == expected


def test_the_rule_answers_mail_from_before_its_activation_time_never_after_reactivation(
    support: Mailbox,
) -> None:
    rule = make_rule(support)
    assert rule.activated_at == ACTIVE_SINCE
    rule.active = False
    rule.activate()
    assert rule.activated_at is not None and rule.activated_at > ACTIVE_SINCE


def test_the_inbound_pipeline_answers_and_records_skips_on_the_job(support: Mailbox) -> None:
    from postroom.processing.models import InboundJob, JobStatus
    from postroom.processing.runner import run_due_jobs

    make_rule(support)
    human = stored(support.organization, build(sender=ANN, to=support.email))
    machine = stored(
        support.organization, build(sender=ANN, to=support.email, headers={"Precedence": "bulk"})
    )
    for message in (human, machine):
        InboundJob.objects.create(
            organization=support.organization,
            mailbox=support,
            message=message,
            folder_kind="inbox",
            internal_date=timezone.now(),
        )

    run_due_jobs(support.pk)

    jobs = {job.message_id: job for job in InboundJob.objects.all()}
    assert {job.status for job in jobs.values()} == {JobStatus.DONE}
    assert "autoresponse" not in jobs[human.pk].skips
    assert "Precedence" in jobs[machine.pk].skips["autoresponse"]
    assert OutgoingMessage.objects.get().in_reply_to_id == human.pk


def test_sender_slot_is_taken_once_per_window_and_freed_after_it(support: Mailbox) -> None:
    from postroom.autoresponse.respond import claim_sender

    now = timezone.now()
    first = claim_sender(support, "ann@example.org", now, 24)
    second = claim_sender(support, "ann@example.org", now + timedelta(hours=1), 24)
    after = claim_sender(support, "ann@example.org", now + timedelta(hours=25), 24)

    assert (first, second, after) == (True, False, True)


def test_a_first_slot_is_stored_as_the_orm_reads_it_and_per_sender(support: Mailbox) -> None:
    """The first slot is inserted with SQL of our own (ON CONFLICT): its time must read back exactly."""
    from postroom.autoresponse.models import SenderThrottle
    from postroom.autoresponse.respond import claim_sender

    now = timezone.now()
    assert claim_sender(support, "ann@example.org", now, 24)
    assert claim_sender(support, "bob@example.org", now, 24)  # another sender has a slot of its own
    assert claim_sender(support, "ann@example.org", now, 0)  # no limit: answered every time

    slots = dict(SenderThrottle.objects.filter(mailbox=support).values_list("sender", "last_reply_at"))
    assert slots == {"ann@example.org": now, "bob@example.org": now}


def test_smtp_down_for_a_while_then_back_delivers_the_reply_once(
    support: Mailbox, smtp_server: SmtpServer
) -> None:
    make_rule(support)
    message, outcome = incoming(support, subject="Where is my parcel?")
    assert outcome.status == REPLIED
    Mailbox.objects.filter(pk=support.pk).update(smtp_port=free_port())  # nothing listens there: down

    assert send.deliver(outcome.outgoing_ids[0]) == Status.QUEUED
    assert send.send_due(now=timezone.now() + timedelta(minutes=1)) == 1  # still down: tried again
    outgoing = OutgoingMessage.objects.get()
    assert outgoing.status == Status.QUEUED and outgoing.attempts == 2 and "refused" in outgoing.last_error

    Mailbox.objects.filter(pk=support.pk).update(smtp_port=smtp_server.port)  # back

    assert send.send_due(now=timezone.now() + timedelta(minutes=30)) == 1
    assert send.send_due(now=timezone.now() + timedelta(hours=3)) == 0
    again = respond_to(message, support, "inbox", timezone.now())

    outgoing.refresh_from_db()
    assert outgoing.status == Status.SENT and again.status == SKIPPED
    assert [r.rcpt_tos for r in smtp_server.messages] == [("ann@example.org",)]


def test_smtp_answering_5xx_marks_the_reply_failed_and_the_thread_shows_why(
    cast: Cast, support: Mailbox, smtp_server: SmtpServer
) -> None:
    make_rule(support, name="Thanks")
    message, _ = incoming(support)
    place_in_inbox(support, message)
    smtp_server.handler.rcpt_reply = "550 5.1.1 No such user here"

    deliver_all()

    outgoing = OutgoingMessage.objects.get()
    assert outgoing.status == Status.FAILED and "550 5.1.1 No such user here" in outgoing.last_error
    assert send.send_due(now=timezone.now() + timedelta(days=1)) == 0 and smtp_server.messages == []
    page = client_for(cast.org_admin).get(f"/o/{support.organization.slug}/mail/threads/{message.thread_id}/")
    assert page.status_code == 200
    shown = page.content.decode()
    assert "Auto-reply by rule “Thanks”" in shown and "550 5.1.1 No such user here" in shown


def test_a_regular_expression_that_times_out_counts_as_no_match_and_the_reason_says_so(
    support: Mailbox,
) -> None:
    # A pattern saved before patterns were checked on save: it must still not hang the worker.
    make_rule(support, [("subject", "matches", r"(a|aa)+$")], name="Slow")

    _, outcome = incoming(support, subject="a" * 40 + "b")

    assert outcome.status == SKIPPED and not OutgoingMessage.objects.exists()
    assert "Subject matches “(a|aa)+$”" in outcome.reason
    assert "timed out" in outcome.reason and "counts as no match" in outcome.reason


def place_in_inbox(mailbox: Mailbox, message: Message) -> None:
    """Show `message` in the mailbox's Inbox, as a sync would."""
    inbox, _ = Folder.objects.get_or_create(
        organization=mailbox.organization,
        mailbox=mailbox,
        name="INBOX",
        defaults={"display_name": "Inbox", "kind": "inbox", "selected": True},
    )
    Placement.objects.create(
        organization=mailbox.organization, mailbox=mailbox, folder=inbox, uid=message.pk, message=message
    )
