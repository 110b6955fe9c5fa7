"""One worker per mailbox: a lease on the mailbox's MailboxSyncState row.

A lease is claimed, renewed and released with conditional UPDATEs whose row count says whether we won,
which works the same on SQLite and PostgreSQL and across any number of processes and machines. A lease
expires, so a worker killed with SIGKILL blocks its mailbox for at most `LEASE_SECONDS`.
"""

from __future__ import annotations

import os
import socket
import uuid
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from postroom.mailboxes.models import Mailbox
from postroom.sync.models import MailboxSyncState

# Renewed after every batch, so this only needs to outlast one batch (a FETCH plus its transaction).
LEASE_SECONDS = 300


class LeaseLost(Exception):
    """Another worker took the mailbox over (our lease expired): stop without writing anything more."""


def new_owner() -> str:
    """A name no other worker uses: host, process and a random part (for log lines and the status)."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def state_of(mailbox: Mailbox) -> MailboxSyncState:
    """The mailbox's sync state row, created on first use (safe when two workers create it at once)."""
    found = MailboxSyncState.objects.filter(mailbox=mailbox).first()
    if found is not None:
        return found
    try:
        with transaction.atomic():
            return MailboxSyncState.objects.create(mailbox=mailbox, organization_id=mailbox.organization_id)
    except IntegrityError:
        return MailboxSyncState.objects.get(mailbox=mailbox)


def claim(mailbox: Mailbox, owner: str, seconds: int = LEASE_SECONDS) -> bool:
    """Take the mailbox's lease if nobody holds it or the holder's lease expired. True when we hold it."""
    state_of(mailbox)
    now = timezone.now()
    free = Q(lease_owner="") | Q(lease_expires_at__isnull=True) | Q(lease_expires_at__lt=now)
    won = MailboxSyncState.objects.filter(free | Q(lease_owner=owner), mailbox=mailbox).update(
        lease_owner=owner, lease_expires_at=now + timedelta(seconds=seconds)
    )
    return won == 1 or _take_from_dead_local_owner(mailbox, owner, seconds)


def _take_from_dead_local_owner(mailbox: Mailbox, owner: str, seconds: int) -> bool:
    """A holder on this machine whose process is gone (killed) cannot renew: take its lease now instead
    of waiting for it to expire. Holders on other machines are only ever taken over after expiry."""
    holder = MailboxSyncState.objects.filter(mailbox=mailbox).values_list("lease_owner", flat=True).first()
    if not holder or not is_dead_local_process(holder):
        return False
    return (
        MailboxSyncState.objects.filter(mailbox=mailbox, lease_owner=holder).update(
            lease_owner=owner, lease_expires_at=timezone.now() + timedelta(seconds=seconds)
        )
        == 1
    )


def worker_of(owner: str) -> str:
    """The worker process an owner name from `new_owner` belongs to, "host:pid": the name of that
    worker's heartbeat (postroom.operations.heartbeat)."""
    return owner.rpartition(":")[0]


def is_dead_local_process(holder: str) -> bool:
    """True only when `holder` (a `new_owner` name) was made on this machine by a process that is gone."""
    host, _, rest = holder.partition(":")
    pid_text = rest.partition(":")[0]
    if host != socket.gethostname() or not pid_text.isdigit():
        return False
    try:
        os.kill(int(pid_text), 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return True
    except PermissionError:
        return False  # it exists, under another user
    return False


def renew(mailbox_id: int, owner: str, seconds: int = LEASE_SECONDS) -> None:
    """Extend our lease; raises LeaseLost when another worker has taken it over meanwhile."""
    expires = timezone.now() + timedelta(seconds=seconds)
    if not MailboxSyncState.objects.filter(mailbox_id=mailbox_id, lease_owner=owner).update(
        lease_expires_at=expires
    ):
        raise LeaseLost(f"mailbox {mailbox_id}: lease taken over by another worker")


def release(mailbox_id: int, owner: str) -> None:
    MailboxSyncState.objects.filter(mailbox_id=mailbox_id, lease_owner=owner).update(
        lease_owner="", lease_expires_at=None
    )
