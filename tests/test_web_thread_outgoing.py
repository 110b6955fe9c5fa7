"""A reply Postroom sent, as the thread shows it: one delivery line that says "Sent" once, and no
Processing section (only received mail is processed)."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.urls import reverse

from postroom.outbox import send
from postroom.outbox.models import OutgoingMessage, Status
from tests.compose_helpers import received, sending_mailbox
from tests.conftest import Cast
from tests.servers.smtp import SmtpServer
from tests.web_support import client_for

pytest_plugins = ["tests.servers.fixtures"]


@pytest.fixture(autouse=True)
def trust_test_ca(settings: Any, test_certs: Any) -> None:
    settings.POSTROOM_EXTRA_CA_FILE = str(test_certs.ca_path)


def test_sent_reply_has_one_delivery_line_and_no_processing(cast: Cast, smtp_server: SmtpServer) -> None:
    mailbox = sending_mailbox(cast.acme, (cast.support_role,), smtp_server, email="support@acme.example")
    original = received(mailbox, subject="Order 42", sender="ann@example.org", to="support@acme.example")
    client = client_for(cast.member)
    reply_url = reverse("mail-reply", kwargs={"slug": "acme", "message_id": original.pk}) + "?mode=reply"
    bound = client.get(reply_url).context["form"]
    fields = ("mailbox", "to", "cc", "bcc", "subject", "body", "idempotency_key")
    client.post(reply_url, {name: bound[name].value() or "" for name in fields})
    [row] = OutgoingMessage.objects.all()
    assert send.deliver(row.pk) == Status.SENT

    page = client.get(reverse("mail-thread", kwargs={"slug": "acme", "thread_id": original.thread_id}))
    html = page.content.decode()
    reply = html[html.index(f'id="message-{row.stored_message_id}"') :]
    assert re.search(r"<strong>Sent</strong>: \d{4}-\d\d-\d\d \d\d:\d\d\s*</p>", reply)
    assert "Processing" not in reply and "Sent by Postroom" not in reply
