"""What became of outgoing mail, for the thread view, the mailbox status page and the failing badge:
each message's delivery state in words, a mailbox's failing messages, and retrying a failed one."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta

from django.db import transaction
from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from postroom.mailboxes.models import Mailbox
from postroom.outbox import send
from postroom.outbox.models import FAILING, OutgoingMessage, Status

BADGE_WINDOW = timedelta(days=7)  # a failed message older than this no longer lights the badge
FAILING_LISTED = 50


@dataclass(frozen=True)
class Delivery:
    state: str  # "queued", "sending", "sent", "retrying" or "failed"
    label: str
    detail: str  # the server's answer for a failure; when it was sent or will be retried


def delivery(row: OutgoingMessage) -> Delivery:
    if row.status == Status.SENT:
        return Delivery("sent", "Sent", _local(row.sent_at))  # shown as "Sent: <time>"
    if row.status == Status.FAILED:
        return Delivery("failed", "Not delivered", row.last_error)
    if row.status == Status.SENDING:
        return Delivery("sending", "Sending", "")
    if row.attempts:
        retry = _when("Next attempt", row.next_attempt_at)
        return Delivery("retrying", "Retrying", f"{row.last_error} {retry}".strip())
    return Delivery("queued", "Queued", "")


def _when(what: str, moment: object) -> str:
    return f"{what} {_local(moment)}." if moment is not None else ""


def _local(moment: object) -> str:
    if moment is None:
        return ""
    local = timezone.localtime(moment)  # type: ignore[arg-type]
    return f"{local:%Y-%m-%d %H:%M}"


def deliveries_of(message_ids: Sequence[int]) -> dict[int, Delivery]:
    """The delivery state of each of `message_ids` Postroom sent (its first outgoing row), one query."""
    rows = OutgoingMessage.objects.filter(stored_message_id__in=message_ids).order_by("-pk")
    # Newest first: each message keeps its oldest row (the one it was first sent as), as before.
    return {row.stored_message_id: delivery(row) for row in rows if row.stored_message_id is not None}


def failing_outgoing(mailbox: Mailbox) -> QuerySet[OutgoingMessage]:
    """The mailbox's messages that failed or are retrying after a failure, newest first."""
    return OutgoingMessage.objects.filter(FAILING, mailbox=mailbox).order_by("-created_at")[:FAILING_LISTED]


def retry_failed(mailbox: Mailbox, outgoing_id: int) -> OutgoingMessage:
    """Queue a failed message of `mailbox` again, with a fresh attempt budget; Http404 when it is not
    one of the mailbox's failed messages. The same bytes go out, with the same Message-ID."""
    with transaction.atomic():
        updated = OutgoingMessage.objects.filter(
            pk=outgoing_id, mailbox=mailbox, status=Status.FAILED
        ).update(status=Status.QUEUED, attempts=0, next_attempt_at=timezone.now(), claim_token="")
        if not updated:
            raise Http404("No such failed message.")
        transaction.on_commit(lambda: send.queue_task(outgoing_id))
    return OutgoingMessage.objects.get(pk=outgoing_id)
