"""Enqueueing and sending outgoing mail: the only way Postroom hands a message to an SMTP server.

Delivery is at least once, with the duplicate window made as small as we can:

1. `claim` marks the row "sending" with a fresh token and a lease, by a conditional UPDATE that only one
   worker can win (queued and due, or "sending" with an expired lease). The claim commits on its own.
2. We connect, authenticate and hand the exact stored bytes over (MAIL, RCPT, DATA).
3. The moment the server accepts DATA, `_mark_sent` commits "sent" — guarded by the token, so a worker
   whose lease was taken over cannot overwrite the newer outcome.

A worker killed before step 3 leaves the row "sending"; after `LEASE` it is claimed again. If the kill
fell between the server's "250" and our commit (a few milliseconds: one UPDATE), the message goes out a
second time. That is the only duplicate possible, at most one per crash in that window, and it carries
the same Message-ID as the first copy (the bytes are built once, at enqueue time), so receivers and
their mail stores that deduplicate by Message-ID show it once. A kill anywhere else loses nothing and
sends nothing twice.

Temporary failures (4xx answers, refused connections, timeouts, TLS or login trouble an admin can fix)
are retried with exponential back-off up to `MAX_ATTEMPTS`; a permanent refusal (5xx) fails at once.
Either way the server's answer is kept in `last_error` (scrubbed of the password by smtp.py).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from email import message_from_bytes
from email.policy import default as default_policy

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from postroom.accounts.models import User
from postroom.logs import log_context
from postroom.mailboxes.models import Mailbox
from postroom.messages import bulk
from postroom.messages.models import Message, Thread
from postroom.messages.store import store_message
from postroom.operations import liveness
from postroom.outbox.models import Kind, OutgoingMessage, Status
from postroom.sync import imap, net, smtp
from postroom.sync.check import imap_endpoint, smtp_endpoint
from postroom.sync.errors import MailServerError, SendRejected
from postroom.sync.models import Folder, FolderKind

logger = logging.getLogger(__name__)

LEASE = timedelta(minutes=5)  # longer than one SMTP conversation may take (SEND_SECONDS)
SEND_SECONDS = 60.0
APPEND_SECONDS = 60.0
MAX_ATTEMPTS = 10
BACKOFF_BASE = timedelta(seconds=30)
BACKOFF_CAP = timedelta(hours=2)


def enqueue(
    mailbox: Mailbox,
    kind: Kind,
    raw: bytes,
    recipients: Sequence[str],
    *,
    in_reply_to: Message | None = None,
    thread: Thread | None = None,
    idempotency_key: str = "",
    created_by: User | None = None,
    known: tuple[str, str] | None = None,
) -> OutgoingMessage:
    """Queue `raw` (a complete message with a Message-ID) for sending from `mailbox` to `recipients`.
    A caller that just built `raw` passes `known` = (its Message-ID, its decoded Subject), sparing a
    parse of the whole message.

    The row is written in the caller's transaction; the send task is queued only after it commits."""
    message_id, subject = known if known is not None else _message_id_and_subject(raw)
    message_id = message_id.strip().strip("<>").lower()
    if not message_id:
        raise ValueError("an outgoing message needs a Message-ID")
    row = bulk.create(
        OutgoingMessage,
        organization_id=mailbox.organization_id,
        mailbox=mailbox,
        kind=kind,
        envelope_from=mailbox.email,
        recipients=list(recipients),
        subject=subject,
        message_id=message_id,
        raw=raw,
        in_reply_to=in_reply_to,
        thread=thread,
        idempotency_key=idempotency_key,
        created_by=created_by,
    )
    transaction.on_commit(lambda: queue_task(row.pk))
    return row


def _message_id_and_subject(raw: bytes) -> tuple[str, str]:
    headers = message_from_bytes(raw, policy=default_policy)
    return str(headers.get("Message-ID", "")), str(headers.get("Subject", ""))


def is_our_message_id(organization_id: int, message_id: str) -> bool:
    """Whether `message_id` (normalised) is one Postroom sent for this organization."""
    return bool(message_id) and (
        OutgoingMessage.objects.filter(organization_id=organization_id, message_id=message_id).exists()
    )


def send_due(now: datetime | None = None, limit: int = 100) -> int:
    """Deliver rows that are due: queued past their next attempt, or "sending" past their lease (a
    worker died). Returns how many were attempted; safe to run on any number of workers at once."""
    now = now or timezone.now()
    ids = list(
        OutgoingMessage.objects.filter(_due(now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in ids if deliver(pk, now) is not None)


def deliver(pk: int, now: datetime | None = None) -> str | None:
    """Claim and send one row; returns its new status, or None when it was not ours to send (already
    sent, claimed by another worker, or not yet due)."""
    now = now or timezone.now()
    token = claim(pk, now)
    if token is None:
        return None
    row = OutgoingMessage.objects.select_related("mailbox", "organization").get(pk=pk)
    with log_context(organization=row.organization.slug, mailbox=row.mailbox_id):
        return _send_claimed(row, token, now)


def _send_claimed(row: OutgoingMessage, token: str, now: datetime) -> str:
    pk = row.pk
    try:
        _hand_over(row)
    except SendRejected as exc:
        return _record_failure(row, token, exc.message, permanent=exc.permanent, now=now)
    except MailServerError as exc:
        return _record_failure(row, token, exc.message, permanent=False, now=now)
    except Exception as exc:  # our bug: keep the row, retry, and tell the admin it is ours
        logger.exception("outbox: sending message %s failed", pk)
        return _record_failure(row, token, f"Internal error ({type(exc).__name__}).", False, now)
    _mark_sent(row, token)
    file_sent_copy(row)
    append_to_sent(row)
    return Status.SENT


def claim(pk: int, now: datetime) -> str | None:
    """Take the row for sending: one conditional UPDATE, so exactly one worker wins it."""
    token = liveness.claim_token()  # names this process, so a sweep can free it if we die
    won = OutgoingMessage.objects.filter(_due(now), pk=pk).update(
        status=Status.SENDING, claim_token=token, lease_expires_at=now + LEASE, attempts=F("attempts") + 1
    )
    return token if won else None


def file_sent_copy(row: OutgoingMessage) -> None:
    """Store a sent message in its thread (idempotent: stored messages are found, not duplicated).
    A failure here never un-sends anything; the sweeper tries again."""
    if row.stored_message_id is not None:
        return
    try:
        stored = store_message(row.organization, bytes(row.raw))
    except Exception:
        logger.exception("outbox: storing sent message %s in its thread failed", row.pk)
        return
    OutgoingMessage.objects.filter(pk=row.pk).update(stored_message_id=stored.message_id)
    row.stored_message_id = stored.message_id


def append_to_sent(row: OutgoingMessage) -> bool:
    """APPEND a sent message to the mailbox's Sent folder when one is selected for sync; True when done
    (or nothing to do). A failure is logged and left to the sweeper. A crash between the server's OK
    and our update may append a second copy; the sync stores both as one message (same Message-ID)."""
    if row.appended_to_sent:
        return True
    folder = sent_folder(row.mailbox)
    if folder is None:
        return True
    try:
        with imap.connect(imap_endpoint(row.mailbox), net.Deadline(APPEND_SECONDS)) as connection:
            connection.append(folder.name, bytes(row.raw), ("\\Seen",))
    except MailServerError as exc:
        logger.warning("outbox: appending message %s to %s failed: %s", row.pk, folder.display_name, exc)
        return False
    OutgoingMessage.objects.filter(pk=row.pk).update(appended_to_sent=True)
    row.appended_to_sent = True
    return True


def sent_folder(mailbox: Mailbox) -> Folder | None:
    if not mailbox.imap_enabled or not mailbox.imap_host:
        return None
    return Folder.objects.filter(mailbox=mailbox, kind=FolderKind.SENT, selected=True).first()


def file_unfiled(limit: int = 100) -> int:
    """Store in their threads, and append to Sent, the sent messages (of the last day) where that failed
    earlier; returns how many were tried."""
    since = timezone.now() - timedelta(days=1)
    pending = Q(stored_message__isnull=True) | Q(
        appended_to_sent=False, mailbox__folders__kind=FolderKind.SENT, mailbox__folders__selected=True
    )
    rows = list(
        OutgoingMessage.objects.filter(pending, status=Status.SENT, sent_at__gte=since)
        .select_related("organization", "mailbox")
        .distinct()[:limit]
    )
    for row in rows:
        file_sent_copy(row)
        append_to_sent(row)
    return len(rows)


def backoff(attempts: int) -> timedelta:
    """Wait before attempt `attempts + 1`: 30 s, 1 min, 2 min ... capped at two hours."""
    wait: timedelta = BACKOFF_BASE * (2 ** max(attempts - 1, 0))
    return min(wait, BACKOFF_CAP)


def _due(now: datetime) -> Q:
    queued = Q(status=Status.QUEUED, next_attempt_at__lte=now)
    abandoned = Q(status=Status.SENDING, lease_expires_at__lt=now)
    return queued | abandoned


def _hand_over(row: OutgoingMessage) -> None:
    mailbox = row.mailbox
    if not mailbox.smtp_enabled or not mailbox.smtp_host:
        raise MailServerError("SMTP is not enabled for this mailbox; the message waits until it is.")
    deadline = net.Deadline(SEND_SECONDS)
    with smtp.connect(smtp_endpoint(mailbox), deadline) as connection:
        connection.send(row.envelope_from, row.recipients, bytes(row.raw))


def _mark_sent(row: OutgoingMessage, token: str) -> None:
    sent_at = timezone.now()
    OutgoingMessage.objects.filter(pk=row.pk, claim_token=token).update(
        status=Status.SENT, sent_at=sent_at, last_error="", lease_expires_at=None
    )
    row.status, row.sent_at = Status.SENT, sent_at


def _record_failure(row: OutgoingMessage, token: str, error: str, permanent: bool, now: datetime) -> str:
    attempts = OutgoingMessage.objects.get(pk=row.pk).attempts
    gave_up = permanent or attempts >= MAX_ATTEMPTS
    if gave_up and not permanent:
        error = f"Gave up after {attempts} attempts. Last answer: {error}"
    status = Status.FAILED if gave_up else Status.QUEUED
    log = logger.warning if gave_up else logger.info
    log("outbox: message %s attempt %d: %s", row.pk, attempts, error)
    OutgoingMessage.objects.filter(pk=row.pk, claim_token=token).update(
        status=status, last_error=error, next_attempt_at=now + backoff(attempts), lease_expires_at=None
    )
    return status


def queue_task(pk: int) -> None:
    from postroom.outbox.tasks import send_outgoing_task

    send_outgoing_task(pk)
