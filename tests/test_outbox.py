"""The outbox against a real SMTP server on loopback: delivery, retries, permanent failures, claims."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from django.utils import timezone
from pytest import MonkeyPatch

from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.outbox import send
from postroom.outbox.models import Kind, OutgoingMessage, Status
from tests.autoresponse_helpers import parsed, smtp_mailbox
from tests.conftest import Cast
from tests.factories import MAILBOX_PASSWORD
from tests.mailbuilder import build
from tests.servers.dovecot import Credentials, Dovecot
from tests.servers.ports import free_port
from tests.servers.smtp import SmtpServer
from tests.sync_helpers import imap_mailbox, message_id_of, tick

pytestmark = pytest.mark.django_db(transaction=True)
pytest_plugins = ["tests.servers.fixtures"]


@pytest.fixture(autouse=True)
def trust_test_ca(settings: object, test_certs: object) -> None:
    settings.POSTROOM_EXTRA_CA_FILE = str(test_certs.ca_path)  # type: ignore[attr-defined]


def queue(mailbox: Mailbox, subject: str = "Hello from the outbox") -> OutgoingMessage:
    raw = build(subject=subject, sender=f"Support <{mailbox.email}>", to="Ann <ann@example.org>")
    return send.enqueue(mailbox, Kind.COMPOSE, raw, ["ann@example.org"])


def later(minutes: int) -> datetime:
    return timezone.now() + timedelta(minutes=minutes)


def test_queued_message_is_delivered_over_starttls_with_auth(cast: Cast, smtp_server: SmtpServer) -> None:
    row = queue(smtp_mailbox(cast.acme, smtp_server))

    assert send.deliver(row.pk) == Status.SENT

    row.refresh_from_db()
    assert row.status == Status.SENT and row.sent_at is not None and row.attempts == 1
    [received] = smtp_server.messages
    assert received.rcpt_tos == ("ann@example.org",)
    assert received.mail_from == row.mailbox.email
    assert parsed(received.data)["Message-ID"].strip("<>").lower() == row.message_id


def test_queued_message_is_delivered_over_implicit_tls(cast: Cast, smtps_server: SmtpServer) -> None:
    row = queue(smtp_mailbox(cast.acme, smtps_server, encryption="ssl"))

    assert send.deliver(row.pk) == Status.SENT
    assert len(smtps_server.messages) == 1


def test_sent_message_is_stored_in_the_thread_of_the_message_it_answers(
    cast: Cast, smtp_server: SmtpServer
) -> None:
    mailbox = smtp_mailbox(cast.acme, smtp_server)
    row = queue(mailbox)

    send.deliver(row.pk)

    row.refresh_from_db()
    assert row.stored_message_id is not None
    stored = Message.objects.get(pk=row.stored_message_id)
    assert stored.message_id == row.message_id and stored.organization_id == cast.acme.pk


def test_delivery_is_claimed_by_one_worker_only(cast: Cast, smtp_server: SmtpServer) -> None:
    row = queue(smtp_mailbox(cast.acme, smtp_server))
    now = timezone.now()

    first, second = send.claim(row.pk, now), send.claim(row.pk, now)

    assert first is not None and second is None


def test_smtp_answering_4xx_then_recovering_delivers_exactly_once(
    cast: Cast, smtp_server: SmtpServer
) -> None:
    row = queue(smtp_mailbox(cast.acme, smtp_server))
    smtp_server.handler.data_reply = "451 4.3.0 Mailbox busy, try again later"

    assert send.deliver(row.pk) == Status.QUEUED
    row.refresh_from_db()
    assert "451" in row.last_error and row.next_attempt_at > timezone.now()
    assert send.send_due() == 0  # not due yet: back-off

    smtp_server.handler.data_reply = None
    assert send.send_due(now=later(5)) == 1
    assert send.send_due(now=later(60)) == 0

    row.refresh_from_db()
    assert row.status == Status.SENT and row.attempts == 2 and row.last_error == ""
    assert len(smtp_server.messages) == 1


def test_smtp_down_for_a_while_then_back_delivers_exactly_once(cast: Cast, smtp_server: SmtpServer) -> None:
    closed_port = free_port()
    mailbox = smtp_mailbox(cast.acme, smtp_server, smtp_port=closed_port)
    row = queue(mailbox)

    assert send.deliver(row.pk) == Status.QUEUED
    assert send.send_due(now=later(1)) == 1  # still down: second attempt, longer back-off
    row.refresh_from_db()
    assert row.status == Status.QUEUED and row.attempts == 2 and "refused" in row.last_error.lower()

    Mailbox.objects.filter(pk=mailbox.pk).update(smtp_port=smtp_server.port)
    assert send.send_due(now=later(10)) == 1
    assert send.send_due(now=later(100)) == 0

    row.refresh_from_db()
    assert row.status == Status.SENT and row.attempts == 3
    assert len(smtp_server.messages) == 1


def test_smtp_answering_5xx_marks_the_message_failed_with_the_answer(
    cast: Cast, smtp_server: SmtpServer
) -> None:
    row = queue(smtp_mailbox(cast.acme, smtp_server))
    smtp_server.handler.rcpt_reply = "550 5.1.1 No such user here"

    assert send.deliver(row.pk) == Status.FAILED

    row.refresh_from_db()
    assert row.status == Status.FAILED and "550 5.1.1 No such user here" in row.last_error
    assert send.send_due(now=later(600)) == 0
    assert smtp_server.messages == []


def test_failure_answer_never_contains_the_password(cast: Cast, smtp_server: SmtpServer) -> None:
    mailbox = smtp_mailbox(cast.acme, smtp_server, password=MAILBOX_PASSWORD)
    row = queue(mailbox)

    assert send.deliver(row.pk) == Status.QUEUED  # wrong password: login refused, retried

    row.refresh_from_db()
    assert row.last_error and MAILBOX_PASSWORD not in row.last_error


def test_worker_killed_mid_send_leaves_a_row_that_is_sent_after_its_lease(
    cast: Cast, smtp_server: SmtpServer
) -> None:
    row = queue(smtp_mailbox(cast.acme, smtp_server))
    now = timezone.now()
    assert send.claim(row.pk, now) is not None  # a worker claimed it, then died before sending

    assert send.send_due(now=now + timedelta(minutes=1)) == 0  # its lease still holds
    assert send.send_due(now=now + send.LEASE + timedelta(seconds=1)) == 1

    row.refresh_from_db()
    assert row.status == Status.SENT and len(smtp_server.messages) == 1


def test_gives_up_after_max_attempts_and_says_so(cast: Cast, smtp_server: SmtpServer) -> None:
    row = queue(smtp_mailbox(cast.acme, smtp_server))
    smtp_server.handler.data_reply = "421 4.7.0 Try again later"
    OutgoingMessage.objects.filter(pk=row.pk).update(attempts=send.MAX_ATTEMPTS - 1)

    assert send.deliver(row.pk) == Status.FAILED

    row.refresh_from_db()
    assert (
        row.last_error.startswith(f"Gave up after {send.MAX_ATTEMPTS} attempts") and "421" in row.last_error
    )


def test_backoff_grows_and_is_capped() -> None:
    waits = [send.backoff(n) for n in range(1, 12)]
    assert waits == sorted(waits) and waits[0] == send.BACKOFF_BASE and waits[-1] == send.BACKOFF_CAP


def test_sent_message_is_appended_to_the_selected_sent_folder(
    cast: Cast, smtp_server: SmtpServer, dovecot: Dovecot, imap_user: Credentials, monkeypatch: MonkeyPatch
) -> None:
    mailbox = imap_mailbox(
        cast.acme,
        dovecot,
        imap_user,
        smtp_enabled=True,
        smtp_host=smtp_server.host,
        smtp_port=smtp_server.port,
        smtp_encryption="starttls",
    )
    tick(mailbox, "INBOX", "Sent")
    row = queue(mailbox)
    # One user name logs in to both servers, as at most providers: let the SMTP server accept it.
    monkeypatch.setattr(smtp_server.handler, "credentials", imap_user)

    assert send.deliver(row.pk) == Status.SENT, OutgoingMessage.objects.get().last_error

    row.refresh_from_db()
    assert row.appended_to_sent
    with dovecot.imap(imap_user.username) as admin:
        admin.select_folder("Sent", readonly=True)
        fetched = admin.fetch(admin.search(["ALL"]), ["BODY.PEEK[]", "FLAGS"])
    [(_uid, data)] = fetched.items()
    assert message_id_of(data[b"BODY[]"]) == row.message_id and b"\\Seen" in data[b"FLAGS"]


def test_no_sent_folder_selected_means_no_append(cast: Cast, smtp_server: SmtpServer) -> None:
    row = queue(smtp_mailbox(cast.acme, smtp_server))
    send.deliver(row.pk)
    row.refresh_from_db()
    assert row.status == Status.SENT and not row.appended_to_sent
