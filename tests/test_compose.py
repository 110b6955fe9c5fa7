"""Reply, reply all, forward and new messages, from the web page and the API, delivered to a real SMTP
server on loopback: what the server received (headers, threading, recipients, attachments), who may send,
and what a double submit or a refusal by the server does."""

from __future__ import annotations

import base64
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy
from pathlib import Path
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse
from pytest import MonkeyPatch

from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.outbox import send
from postroom.outbox.compose import Mode, prefill, prefixed
from postroom.outbox.models import Kind, OutgoingMessage, Status
from tests.api_helpers import as_user
from tests.compose_helpers import received, sending_mailbox
from tests.conftest import Cast
from tests.processing_helpers import arrive
from tests.servers.smtp import Received, SmtpServer
from tests.web_support import client_for

pytest_plugins = ["tests.servers.fixtures"]

EML = Path(__file__).parent / "eml"
KEY = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
PDF = b"%PDF-1.4 the original's attachment\n"


@pytest.fixture(autouse=True)
def trust_test_ca(settings: Any, test_certs: Any) -> None:
    settings.POSTROOM_EXTRA_CA_FILE = str(test_certs.ca_path)


@pytest.fixture
def mailbox(cast: Cast, smtp_server: SmtpServer) -> Mailbox:
    return sending_mailbox(cast.acme, (cast.support_role,), smtp_server, email="support@acme.example")


@pytest.fixture
def original(mailbox: Mailbox) -> Message:
    return received(
        mailbox,
        subject="RE: Re: AW: Order 42",
        sender="Ann Buyer <ann@example.org>",
        to="Support <support@acme.example>, Carl <carl@example.org>",
        headers={"Cc": "Dora <dora@example.org>, support@acme.example", "References": "<root@example.org>"},
        body="Where is my order?\nIt was due Monday.\n",
        attachments=(("invoice.pdf", "application/pdf", PDF),),
    )


def reply_url(cast: Cast, message: Message, mode: str) -> str:
    return reverse("mail-reply", kwargs={"slug": cast.acme.slug, "message_id": message.pk}) + f"?mode={mode}"


def form(client: Client, url: str) -> dict[str, Any]:
    """The compose form's proposed values, as the browser would post them back."""
    context = client.get(url).context
    bound = context["form"]
    names = ("mailbox", "to", "cc", "bcc", "subject", "body", "idempotency_key")
    values = {name: bound[name].value() for name in names}
    return {name: "" if value is None else value for name, value in values.items()}


def deliver_all() -> list[str | None]:
    return [send.deliver(pk) for pk in OutgoingMessage.objects.values_list("pk", flat=True)]


def headers(received_message: Received) -> EmailMessage:
    parsed = message_from_bytes(received_message.data, policy=default_policy)
    assert isinstance(parsed, EmailMessage)
    return parsed


# Replying from the web page --------------------------------------------------------------------------


def test_reply_goes_to_the_sender_threaded_quoted_and_from_the_mailbox(
    cast: Cast, mailbox: Mailbox, original: Message, smtp_server: SmtpServer
) -> None:
    client = client_for(cast.member)
    data = form(client, reply_url(cast, original, "reply"))
    data["body"] = "It ships today.\n" + data["body"]

    response = client.post(reply_url(cast, original, "reply"), data)

    row = OutgoingMessage.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "mail-thread", kwargs={"slug": cast.acme.slug, "thread_id": original.thread_id}
    )
    assert row.kind == Kind.REPLY and row.thread_id == original.thread_id and row.created_by == cast.member
    assert deliver_all() == [Status.SENT]
    [sent] = smtp_server.messages
    assert sent.mail_from == "support@acme.example" and sent.rcpt_tos == ("ann@example.org",)
    message = headers(sent)
    assert message["From"] == "Support <support@acme.example>"
    assert message["To"] == "Ann Buyer <ann@example.org>"
    assert message["Subject"] == "Re: Order 42"
    assert message["In-Reply-To"] == f"<{original.message_id}>"
    assert message["References"].split() == ["<root@example.org>", f"<{original.message_id}>"]
    text = message.get_content().replace("\r\n", "\n")
    assert text.startswith("It ships today.\n")
    assert "wrote:\n> Where is my order?\n> It was due Monday." in text
    assert row.stored_message is not None and row.stored_message.thread_id == original.thread_id


def test_reply_all_keeps_everyone_but_the_mailbox_itself(
    cast: Cast, mailbox: Mailbox, original: Message, smtp_server: SmtpServer
) -> None:
    client = client_for(cast.member)
    data = form(client, reply_url(cast, original, "all"))
    assert data["to"] == "Ann Buyer <ann@example.org>, Carl <carl@example.org>"
    assert data["cc"] == "Dora <dora@example.org>"

    client.post(reply_url(cast, original, "all"), data)
    deliver_all()

    [sent] = smtp_server.messages
    assert sent.rcpt_tos == ("ann@example.org", "carl@example.org", "dora@example.org")
    assert "support@acme.example" not in headers(sent)["To"] + headers(sent)["Cc"]


def test_reply_to_header_is_honoured(cast: Cast, mailbox: Mailbox) -> None:
    message = received(mailbox, headers={"Reply-To": "Orders <orders@example.org>"})

    assert prefill(Mode.REPLY, message, mailbox).to == "Orders <orders@example.org>"


def test_answering_our_own_sent_mail_writes_to_its_recipients_again(cast: Cast, mailbox: Mailbox) -> None:
    ours = received(mailbox, sender="Support <support@acme.example>", to="Ann <ann@example.org>")

    assert prefill(Mode.REPLY, ours, mailbox).to == "Ann <ann@example.org>"


def test_forward_carries_the_original_attachments_and_keeps_the_thread(
    cast: Cast, mailbox: Mailbox, original: Message, smtp_server: SmtpServer
) -> None:
    client = client_for(cast.member)
    data = form(client, reply_url(cast, original, "forward")) | {"to": "eve@example.org"}

    client.post(reply_url(cast, original, "forward"), data)
    deliver_all()

    [sent] = smtp_server.messages
    message = headers(sent)
    assert message["Subject"] == "Fwd: RE: Re: AW: Order 42"
    assert message["In-Reply-To"] is None  # a forward does not answer the original...
    assert f"<{original.message_id}>" in message["References"]  # ...but stays in its conversation
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "invoice.pdf" and attachment.get_content() == PDF
    body = message.get_body(("plain",))
    assert body is not None and "---------- Forwarded message ----------" in body.get_content()
    assert OutgoingMessage.objects.get().kind == Kind.FORWARD


def test_forwarding_an_unparsable_message_attaches_it_whole(
    cast: Cast, mailbox: Mailbox, smtp_server: SmtpServer
) -> None:
    raw = (EML / "unclosed_boundary.eml").read_bytes()
    [broken] = arrive(mailbox, [raw])
    assert broken.parse_error
    client = client_for(cast.member)
    data = form(client, reply_url(cast, broken, "forward")) | {"to": "eve@example.org"}

    client.post(reply_url(cast, broken, "forward"), data)
    deliver_all()

    [attachment] = list(headers(smtp_server.messages[0]).iter_attachments())
    assert attachment.get_filename() == "original.eml"
    assert attachment.get_content() == raw


def test_new_message_with_upload_and_bcc(cast: Cast, mailbox: Mailbox, smtp_server: SmtpServer) -> None:
    client = client_for(cast.member)
    url = reverse("mail-compose", kwargs={"slug": cast.acme.slug, "mailbox_id": mailbox.pk})
    upload = SimpleUploadedFile("../../price list.csv", b"sku,price\n1,9.99\n", content_type="text/csv")
    data = form(client, url) | {
        "to": "Ann <ann@example.org>",
        "bcc": "boss@acme.example",
        "subject": "Prices",
        "body": "Attached.",
        "attachments": [upload],
    }

    response = client.post(url, data)
    deliver_all()

    row = OutgoingMessage.objects.get()
    assert response.status_code == 302 and row.kind == Kind.COMPOSE
    [sent] = smtp_server.messages
    assert sent.rcpt_tos == ("ann@example.org", "boss@acme.example")
    message = headers(sent)
    assert message["Bcc"] is None and "boss@" not in sent.data.decode()
    assert message["In-Reply-To"] is None and message["References"] is None
    [attachment] = list(message.iter_attachments())
    assert attachment.get_filename() == "price list.csv"
    assert attachment.get_content() == "sku,price\n1,9.99\n"


def test_double_submit_sends_once(
    cast: Cast, mailbox: Mailbox, original: Message, smtp_server: SmtpServer
) -> None:
    client = client_for(cast.member)
    data = form(client, reply_url(cast, original, "reply")) | {"idempotency_key": KEY}

    first = client.post(reply_url(cast, original, "reply"), data)
    second = client.post(reply_url(cast, original, "reply"), data)
    send.send_due()

    assert first.status_code == second.status_code == 302
    assert OutgoingMessage.objects.count() == 1
    assert len(smtp_server.messages) == 1


def test_another_users_key_is_refused_not_answered_with_their_message(
    cast: Cast, mailbox: Mailbox, original: Message
) -> None:
    data = form(client_for(cast.member), reply_url(cast, original, "reply")) | {"idempotency_key": KEY}
    client_for(cast.member).post(reply_url(cast, original, "reply"), data)

    response = client_for(cast.org_admin).post(reply_url(cast, original, "reply"), data)

    assert response.status_code == 422
    assert b"This form was already used." in response.content
    assert OutgoingMessage.objects.count() == 1


# Validation ---------------------------------------------------------------------------------------------


def test_bad_addresses_are_shown_beside_the_field_and_typed_values_kept(
    cast: Cast, mailbox: Mailbox, original: Message
) -> None:
    client = client_for(cast.member)
    data = form(client, reply_url(cast, original, "reply")) | {
        "to": "ann@example.org, not-an-address",
        "subject": "My subject",
    }

    response = client.post(reply_url(cast, original, "reply"), data)

    assert response.status_code == 422
    page = response.content.decode()
    assert 'id="id_to_error"' in page and "Not a valid email address: not-an-address." in page
    assert 'value="ann@example.org, not-an-address"' in page and 'value="My subject"' in page
    assert not OutgoingMessage.objects.exists()


def test_a_message_needs_a_recipient(cast: Cast, mailbox: Mailbox, original: Message) -> None:
    client = client_for(cast.member)
    data = form(client, reply_url(cast, original, "forward"))

    response = client.post(reply_url(cast, original, "forward"), data)

    assert response.status_code == 422 and b"Add at least one recipient." in response.content


def test_header_injection_through_recipients_is_refused(
    cast: Cast, mailbox: Mailbox, original: Message
) -> None:
    client = client_for(cast.member)
    data = form(client, reply_url(cast, original, "reply")) | {"to": "ann@example.org\r\nBcc: x@evil.example"}

    response = client.post(reply_url(cast, original, "reply"), data)

    assert response.status_code == 422 and not OutgoingMessage.objects.exists()


def test_uploads_over_the_cap_are_refused(
    cast: Cast, mailbox: Mailbox, original: Message, monkeypatch: MonkeyPatch
) -> None:
    monkeypatch.setattr("postroom.outbox.forms.MAX_UPLOAD_BYTES", 10)
    client = client_for(cast.member)
    big = SimpleUploadedFile("big.bin", b"x" * 11)
    data = form(client, reply_url(cast, original, "reply")) | {"attachments": [big]}

    response = client.post(reply_url(cast, original, "reply"), data)

    assert response.status_code == 422 and b'id="id_attachments_error"' in response.content
    assert not OutgoingMessage.objects.exists()


@pytest.mark.parametrize(
    ("prefix", "subject", "expected"),
    [
        ("Re", "Order", "Re: Order"),
        ("Re", "Re: RE: AW: Order", "Re: Order"),
        ("Re", "Re[2]: Order", "Re: Order"),
        ("Re", "Fwd: Order", "Re: Fwd: Order"),
        ("Fwd", "FW: Fwd: Order", "Fwd: Order"),
        ("Fwd", "Re: Order", "Fwd: Re: Order"),
        ("Re", "", "Re:"),
        ("Re", "Re:  Ratio: 3:1", "Re: Ratio: 3:1"),
    ],
)
def test_subject_prefixes_do_not_pile_up(prefix: str, subject: str, expected: str) -> None:
    assert prefixed(prefix, subject) == expected


# Who may send -----------------------------------------------------------------------------------------


def test_member_without_access_and_outsider_get_404(cast: Cast, mailbox: Mailbox, original: Message) -> None:
    for user in (cast.loner, cast.outsider):
        assert client_for(user).get(reply_url(cast, original, "reply")).status_code == 404


def test_smtp_disabled_hides_the_buttons_and_refuses_with_a_reason(
    cast: Cast, mailbox: Mailbox, original: Message
) -> None:
    Mailbox.objects.filter(pk=mailbox.pk).update(smtp_enabled=False)
    client = client_for(cast.member)
    compose_url = reverse("mail-compose", kwargs={"slug": cast.acme.slug, "mailbox_id": mailbox.pk})

    thread = client.get(
        reverse("mail-thread", kwargs={"slug": cast.acme.slug, "thread_id": original.thread_id})
    )
    reply = client.get(reply_url(cast, original, "reply"))
    compose = client.get(compose_url)

    assert thread.status_code == 200 and b"Reply all" not in thread.content
    assert reply.status_code == compose.status_code == 400
    assert b"its SMTP is not enabled" in reply.content and b"its SMTP is not enabled" in compose.content


def test_thread_offers_reply_buttons_when_smtp_is_enabled(
    cast: Cast, mailbox: Mailbox, original: Message
) -> None:
    page = client_for(cast.member).get(
        reverse("mail-thread", kwargs={"slug": cast.acme.slug, "thread_id": original.thread_id})
    )

    assert reply_url(cast, original, "all").replace("?", "?").encode() in page.content.replace(b"&amp;", b"&")


def test_an_unknown_mode_is_refused(cast: Cast, mailbox: Mailbox, original: Message) -> None:
    response = client_for(cast.member).get(reply_url(cast, original, "shout"))

    assert response.status_code == 400


# Delivery status ----------------------------------------------------------------------------------------


def test_server_refusal_fails_the_message_and_the_thread_says_why(
    cast: Cast, mailbox: Mailbox, original: Message, smtp_server: SmtpServer
) -> None:
    client = client_for(cast.member)
    client.post(reply_url(cast, original, "reply"), form(client, reply_url(cast, original, "reply")))
    smtp_server.handler.rcpt_reply = "550 5.1.1 No such user here"

    assert deliver_all() == [Status.FAILED]

    thread = client.get(
        reverse("mail-thread", kwargs={"slug": cast.acme.slug, "thread_id": original.thread_id})
    )
    page = thread.content.decode()
    assert "Not delivered" in page and "No such user here" in page


def test_queued_reply_shows_in_the_thread_at_once(cast: Cast, mailbox: Mailbox, original: Message) -> None:
    client = client_for(cast.member)
    client.post(reply_url(cast, original, "reply"), form(client, reply_url(cast, original, "reply")))

    thread = client.get(
        reverse("mail-thread", kwargs={"slug": cast.acme.slug, "thread_id": original.thread_id})
    )

    row = OutgoingMessage.objects.get()
    assert f'id="message-{row.stored_message_id}"'.encode() in thread.content
    assert b"<strong>Queued</strong>" in thread.content


# The API ------------------------------------------------------------------------------------------------


def test_api_reply_all_and_its_status(
    cast: Cast, mailbox: Mailbox, original: Message, smtp_server: SmtpServer
) -> None:
    path = f"/orgs/{cast.acme.slug}/messages/{original.pk}/reply"
    body = {"mode": "all", "body": "On its way.", "idempotency_key": KEY}

    first = as_user(cast.member, "POST", path, body)
    again = as_user(cast.member, "POST", path, body)

    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"] and first.json()["state"] == "queued"
    deliver_all()
    status = as_user(cast.member, "GET", f"/orgs/{cast.acme.slug}/outgoing/{first.json()['id']}")
    assert status.json()["state"] == "sent" and status.json()["thread_id"] == original.thread_id
    [sent] = smtp_server.messages
    assert sent.rcpt_tos == ("ann@example.org", "carl@example.org", "dora@example.org")
    assert headers(sent)["Subject"] == "Re: Order 42"


def test_api_compose_with_attachment(cast: Cast, mailbox: Mailbox, smtp_server: SmtpServer) -> None:
    body = {
        "to": ["ann@example.org"],
        "subject": "Report",
        "attachments": [
            {
                "filename": "r.txt",
                "content_type": "text/plain",
                "content_base64": base64.b64encode(b"hi").decode(),
            }
        ],
    }

    response = as_user(cast.member, "POST", f"/orgs/{cast.acme.slug}/mailboxes/{mailbox.pk}/messages", body)
    deliver_all()

    assert response.status_code == 201
    [attachment] = list(headers(smtp_server.messages[0]).iter_attachments())
    assert attachment.get_filename() == "r.txt" and attachment.get_content() == "hi"


def test_api_refuses_bad_addresses_with_field_errors(cast: Cast, mailbox: Mailbox) -> None:
    path = f"/orgs/{cast.acme.slug}/mailboxes/{mailbox.pk}/messages"

    response = as_user(cast.member, "POST", path, {"to": ["nobody"]})

    assert response.status_code == 422 and "to" in response.json()["errors"]


def test_api_compose_from_a_mailbox_without_smtp_is_422(cast: Cast) -> None:
    quiet = sending_mailbox(cast.acme, (cast.support_role,), label="Quiet", smtp_enabled=False)

    response = as_user(
        cast.member, "POST", f"/orgs/{cast.acme.slug}/mailboxes/{quiet.pk}/messages", {"to": ["a@b.example"]}
    )

    assert response.status_code == 422 and "SMTP is not enabled" in response.json()["errors"]["mailbox"][0]
