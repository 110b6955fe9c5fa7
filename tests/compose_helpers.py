"""Helpers for the compose, status and checklist tests: a mailbox members may read and send from, mail
that arrived in it, and an outgoing message the outbox gave up on."""

from __future__ import annotations

from typing import Any

from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.organizations.models import Organization, Role
from postroom.outbox.models import Kind, OutgoingMessage, Status
from postroom.outbox.send import enqueue
from tests.factories import make_mailbox
from tests.mailbuilder import build
from tests.processing_helpers import arrive
from tests.servers.smtp import SmtpServer

CLOSED_PORT = 1  # nothing listens there: a send would fail at once, but these helpers never send


def sending_mailbox(
    org: Organization,
    readers: tuple[Role, ...] = (),
    server: SmtpServer | None = None,
    label: str = "Support",
    **extra: Any,
) -> Mailbox:
    """A mailbox with SMTP enabled (the test server, or a closed loopback port), readable by `readers`."""
    fields: dict[str, Any] = {"smtp_enabled": True, "smtp_host": "127.0.0.1", "smtp_port": CLOSED_PORT}
    if server is not None:
        fields |= {
            "smtp_host": server.host,
            "smtp_port": server.port,
            "smtp_encryption": "starttls",
            "username": server.credentials.username,
            "password": server.credentials.password,
        }
    mailbox = make_mailbox(org, label, **(fields | extra))
    mailbox.access_roles.set(readers)
    return mailbox


def received(mailbox: Mailbox, **mail: Any) -> Message:
    """A message (built by tests.mailbuilder.build) that arrived in the mailbox's INBOX."""
    [message] = arrive(mailbox, [build(**mail)])
    return message


def failed_outgoing(mailbox: Mailbox, error: str = "550 5.1.1 No such user") -> OutgoingMessage:
    raw = build(subject="Undeliverable", sender=mailbox.email, to="ghost@example.org")
    row = enqueue(mailbox, Kind.COMPOSE, raw, ["ghost@example.org"])
    OutgoingMessage.objects.filter(pk=row.pk).update(status=Status.FAILED, attempts=1, last_error=error)
    row.refresh_from_db()
    return row
