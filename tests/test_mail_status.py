"""The mailbox status page (sync, backlog, last error, quarantine, outbox failures with a retry) and the
navigation's failing badge, with a real SMTP server refusing and then accepting mail."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.outbox import send
from postroom.outbox.models import OutgoingMessage, Status
from postroom.sync.models import MailboxSyncState
from tests.compose_helpers import failed_outgoing, received, sending_mailbox
from tests.conftest import Cast
from tests.mailbuilder import build
from tests.processing_helpers import arrive, folder_of
from tests.servers.smtp import SmtpServer
from tests.web_support import client_for

pytest_plugins = ["tests.servers.fixtures"]


@pytest.fixture(autouse=True)
def trust_test_ca(settings: Any, test_certs: Any) -> None:
    settings.POSTROOM_EXTRA_CA_FILE = str(test_certs.ca_path)


@pytest.fixture
def mailbox(cast: Cast, smtp_server: SmtpServer) -> Mailbox:
    return sending_mailbox(cast.acme, (cast.support_role,), smtp_server)


def status_url(cast: Cast, mailbox: Mailbox) -> str:
    return reverse("mail-status", kwargs={"slug": cast.acme.slug, "mailbox_id": mailbox.pk})


def failing_sync(mailbox: Mailbox, since_hours: int = 3) -> None:
    MailboxSyncState.objects.create(
        organization=mailbox.organization,
        mailbox=mailbox,
        last_error_code="login_failed",
        last_error="The server rejected the user name or password.",
        error_since=timezone.now() - timedelta(hours=since_hours),
        consecutive_failures=4,
        last_sync_started_at=timezone.now(),
    )


def test_status_page_shows_sync_error_backlog_and_quarantine(cast: Cast, mailbox: Mailbox) -> None:
    failing_sync(mailbox)
    inbox = folder_of(mailbox)
    arrive(mailbox, [build(subject="Fine")])
    broken = received(mailbox, subject="Broken one")
    Message.objects.filter(pk=broken.pk).update(parse_error="unclosed MIME boundary")
    inbox.refresh_from_db()
    inbox.uidnext, inbox.last_uid = 120, 100
    inbox.save()

    page = client_for(cast.member).get(status_url(cast, mailbox)).content.decode()

    assert "Failing since" in page and "The server rejected the user name or password." in page
    assert "[login_failed]" in page and "4 attempts" in page
    assert "19 messages on the server not fetched yet" in page
    assert "Broken one" in page and "unclosed MIME boundary" in page


def test_status_page_lists_outbox_failures_with_the_servers_answer(cast: Cast, mailbox: Mailbox) -> None:
    failed_outgoing(mailbox, "550 5.1.1 No such user here")

    response = client_for(cast.member).get(status_url(cast, mailbox))

    page = response.content.decode()
    assert "Outgoing mail problems" in page and "550 5.1.1 No such user here" in page
    assert "ghost@example.org" in page and "Send again" in page


def test_server_refusal_then_retry_from_the_status_page_delivers(
    cast: Cast, mailbox: Mailbox, smtp_server: SmtpServer
) -> None:
    row = failed_outgoing(mailbox)
    OutgoingMessage.objects.filter(pk=row.pk).update(status=Status.QUEUED, attempts=0, last_error="")
    smtp_server.handler.rcpt_reply = "550 5.1.1 No such user here"
    assert send.deliver(row.pk) == Status.FAILED
    assert "No such user here" in client_for(cast.member).get(status_url(cast, mailbox)).content.decode()
    smtp_server.handler.rcpt_reply = None

    retry = reverse(
        "outbox-retry", kwargs={"slug": cast.acme.slug, "mailbox_id": mailbox.pk, "outgoing_id": row.pk}
    )
    response = client_for(cast.member).post(retry)

    assert response.status_code == 302 and response["Location"] == status_url(cast, mailbox)
    row.refresh_from_db()
    assert row.status == Status.QUEUED and row.attempts == 0
    assert send.deliver(row.pk) == Status.SENT
    assert [m.rcpt_tos for m in smtp_server.messages] == [("ghost@example.org",)]
    assert "Send again" not in client_for(cast.member).get(status_url(cast, mailbox)).content.decode()


def test_only_failed_messages_can_be_retried(cast: Cast, mailbox: Mailbox) -> None:
    row = failed_outgoing(mailbox)
    OutgoingMessage.objects.filter(pk=row.pk).update(status=Status.SENT)
    retry = reverse(
        "outbox-retry", kwargs={"slug": cast.acme.slug, "mailbox_id": mailbox.pk, "outgoing_id": row.pk}
    )

    assert client_for(cast.member).post(retry).status_code == 404
    assert OutgoingMessage.objects.get(pk=row.pk).status == Status.SENT


def test_retrying_another_mailboxs_message_is_404(cast: Cast, mailbox: Mailbox) -> None:
    hidden = sending_mailbox(cast.acme, label="Board")  # no role may read it
    row = failed_outgoing(hidden)
    retry = reverse(
        "outbox-retry", kwargs={"slug": cast.acme.slug, "mailbox_id": mailbox.pk, "outgoing_id": row.pk}
    )

    assert client_for(cast.member).post(retry).status_code == 404
    assert OutgoingMessage.objects.get(pk=row.pk).status == Status.FAILED


def test_status_is_reachable_from_the_mailbox_list(cast: Cast, mailbox: Mailbox) -> None:
    page = client_for(cast.org_admin).get(reverse("email-configuration", kwargs={"slug": cast.acme.slug}))

    assert status_url(cast, mailbox).encode() in page.content


def test_readers_reach_status_from_the_mail_list_and_others_do_not(cast: Cast, mailbox: Mailbox) -> None:
    hidden = sending_mailbox(cast.acme, (), label="Board")
    mail_list = reverse("mail", kwargs={"slug": cast.acme.slug})
    page = client_for(cast.member).get(mail_list).content.decode()

    assert status_url(cast, mailbox) in page
    assert status_url(cast, hidden) not in page
    assert client_for(cast.member).get(status_url(cast, mailbox)).status_code == 200
    assert client_for(cast.member).get(status_url(cast, hidden)).status_code == 404


# The failing badge ----------------------------------------------------------------------------------------


def badge(cast: Cast, user: Any) -> str:
    page = client_for(user).get(reverse("leads", kwargs={"slug": cast.acme.slug})).content.decode()
    start = page.find('class="badge warning"')
    return page[start : page.find("</a>", start)] if start != -1 else ""


def test_no_badge_while_all_is_well(cast: Cast, mailbox: Mailbox) -> None:
    assert badge(cast, cast.member) == ""


def test_badge_for_a_failing_sync_links_to_the_status_page(cast: Cast, mailbox: Mailbox) -> None:
    failing_sync(mailbox)

    shown = badge(cast, cast.member)

    assert "1 mailbox failing" in shown and status_url(cast, mailbox) in shown


def test_badge_for_outbox_failures_and_counts_mailboxes(cast: Cast, mailbox: Mailbox) -> None:
    failing_sync(mailbox)
    other = sending_mailbox(cast.acme, (cast.support_role,), label="Sales")
    failed_outgoing(other)

    assert "2 mailboxes failing" in badge(cast, cast.member)


def test_old_outbox_failures_no_longer_light_the_badge(cast: Cast, mailbox: Mailbox) -> None:
    row = failed_outgoing(mailbox)
    OutgoingMessage.objects.filter(pk=row.pk).update(created_at=timezone.now() - timedelta(days=8))

    assert badge(cast, cast.member) == ""


def test_badge_counts_only_mailboxes_the_user_may_read(cast: Cast, mailbox: Mailbox) -> None:
    failing_sync(mailbox)

    assert badge(cast, cast.loner) == ""
    assert "1 mailbox failing" in badge(cast, cast.org_admin)


def test_badge_costs_one_query(cast: Cast, mailbox: Mailbox) -> None:
    failing_sync(mailbox)
    client = client_for(cast.org_admin)
    url = reverse("leads", kwargs={"slug": cast.acme.slug})
    client.get(url)  # warm the session

    with CaptureQueriesContext(connection) as queries:
        client.get(url)

    badge_queries = [q["sql"] for q in queries.captured_queries if "last_error_code" in q["sql"]]
    assert len(badge_queries) == 1
    assert "outbox_outgoingmessage" in badge_queries[0]
