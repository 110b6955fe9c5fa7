"""IMAP IDLE on INBOX (M4 "new mail within seconds"), with polling as the fallback.

`watch_mailbox` keeps one mailbox fresh until told to stop: sync, then wait in IDLE on INBOX until the
server reports a change (or `IDLE_SECONDS` pass, well under the 29 minutes RFC 2177 allows), then sync
again. On a server without IDLE, or while the mailbox fails, it waits for the mailbox's next_sync_at
instead, so back-off still applies. Each sync goes through `sync_mailbox` and its lease, so a watcher
and the scheduled syncs never sync one mailbox at the same time.
"""

from __future__ import annotations

import logging
import threading
from datetime import timedelta

from django.db import close_old_connections, connection
from django.db.models import Q
from django.utils import timezone

from postroom.crypto import SecretUnreadable
from postroom.mailboxes.models import Mailbox
from postroom.sync import imap, lease, net
from postroom.sync.check import imap_endpoint
from postroom.sync.engine import CONNECT_TIMEOUT, SyncReport, sync_mailbox
from postroom.sync.errors import MailServerError
from postroom.sync.models import Folder, MailboxSyncState

logger = logging.getLogger(__name__)

IDLE_SECONDS = 20 * 60
INBOX = "INBOX"
# A watcher's claim on a mailbox; the supervisor renews it every SUPERVISE_SECONDS, so a worker that dies
# gives its mailboxes up to another worker's supervisor within IDLE_LEASE_SECONDS.
IDLE_LEASE_SECONDS = 180
SUPERVISE_SECONDS = 60
# Watchers IDLE in rounds this long, so a mailbox whose claim was lost is let go within one round.
WATCH_IDLE_SECONDS = 120


def wait_for_new_mail(mailbox: Mailbox, seconds: float) -> bool | None:
    """Wait in IDLE on INBOX for up to `seconds`. True: the server reported a change; False: timeout;
    None: IDLE is not possible (no IDLE capability, INBOX not ticked, or the server failed)."""
    inbox = Folder.objects.filter(mailbox=mailbox, name=INBOX, selected=True, exists_on_server=True).first()
    if inbox is None:
        return None
    try:
        with imap.connect(imap_endpoint(mailbox), net.Deadline(CONNECT_TIMEOUT)) as connection:
            if not connection.has_capability("IDLE"):
                return None
            status = connection.examine(INBOX)
            if status.uidnext is not None and status.uidnext - 1 > inbox.last_uid:
                return True  # arrived between the last sync and now: IDLE would not mention it
            return connection.idle_until_change(seconds)
    except (MailServerError, SecretUnreadable) as exc:
        logger.info("IDLE on mailbox %s not possible: %s", mailbox.pk, type(exc).__name__)
        return None


def watch_mailbox(
    mailbox: Mailbox, stop: threading.Event, idle_seconds: float = IDLE_SECONDS, rounds: int | None = None
) -> list[SyncReport]:
    """Sync, IDLE, sync... until `stop` is set (or `rounds` syncs ran); returns the reports."""
    reports: list[SyncReport] = []
    while not stop.is_set() and (rounds is None or len(reports) < rounds):
        report = sync_mailbox(mailbox)
        reports.append(report)
        if stop.is_set() or (rounds is not None and len(reports) >= rounds):
            break
        changed = wait_for_new_mail(mailbox, idle_seconds) if report.status == "ok" else None
        if changed is None:
            stop.wait(_seconds_until_due(mailbox))
    return reports


def _seconds_until_due(mailbox: Mailbox) -> float:
    state = lease.state_of(mailbox)
    if state.next_sync_at is None:
        return 0.0
    return max((state.next_sync_at - timezone.now()).total_seconds(), 0.0)


def idle_candidates() -> list[int]:
    """Mailboxes worth watching: IMAP enabled and INBOX ticked for sync."""
    return list(
        Mailbox.objects.filter(
            imap_enabled=True, folders__name=INBOX, folders__selected=True, folders__exists_on_server=True
        )
        .values_list("pk", flat=True)
        .distinct()
    )


def claim_idle(mailbox: Mailbox, owner: str) -> bool:
    """Take or renew the IDLE watch of `mailbox` for `owner`: one watcher per mailbox across all workers."""
    lease.state_of(mailbox)
    now = timezone.now()
    free = Q(idle_owner="") | Q(idle_expires_at__isnull=True) | Q(idle_expires_at__lt=now)
    won = MailboxSyncState.objects.filter(free | Q(idle_owner=owner), mailbox=mailbox).update(
        idle_owner=owner, idle_expires_at=now + timedelta(seconds=IDLE_LEASE_SECONDS)
    )
    return won == 1


def release_idle(mailbox_id: int, owner: str) -> None:
    MailboxSyncState.objects.filter(mailbox_id=mailbox_id, idle_owner=owner).update(
        idle_owner="", idle_expires_at=None
    )


class IdleSupervisor:
    """Runs one watcher thread per mailbox this worker holds the IDLE claim for. `step` is one round
    (claim, start, stop); `run` repeats it until `stop` is set. Watchers are daemon threads: stopping the
    worker never waits for a server to end an IDLE."""

    def __init__(self, stop: threading.Event, owner: str | None = None) -> None:
        self.stop = stop
        self.owner = owner or lease.new_owner()
        self.watchers: dict[int, tuple[threading.Thread, threading.Event]] = {}

    def step(self) -> set[int]:
        """One round; returns the ids of the mailboxes watched afterwards."""
        wanted = set(idle_candidates())
        for mailbox in Mailbox.objects.filter(pk__in=wanted | set(self.watchers)):
            held = mailbox.pk in wanted and claim_idle(mailbox, self.owner)
            if held and mailbox.pk not in self.watchers:
                self._start(mailbox)
            elif not held and mailbox.pk in self.watchers:
                self._stop(mailbox.pk)
        for mailbox_id in set(self.watchers) - wanted:
            self._stop(mailbox_id)
        return set(self.watchers)

    def run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    self.step()
                except Exception:  # a database hiccup must not end IDLE for good
                    logger.exception("IDLE supervisor round failed")
                self.stop.wait(SUPERVISE_SECONDS)
        finally:
            for mailbox_id in list(self.watchers):
                self._stop(mailbox_id)
            connection.close()

    def _start(self, mailbox: Mailbox) -> None:
        event = threading.Event()
        thread = threading.Thread(
            target=_watch, args=(mailbox.pk, event), name=f"idle-{mailbox.pk}", daemon=True
        )
        self.watchers[mailbox.pk] = (thread, event)
        thread.start()

    def _stop(self, mailbox_id: int) -> None:
        _, event = self.watchers.pop(mailbox_id)
        event.set()
        release_idle(mailbox_id, self.owner)


def _watch(mailbox_id: int, stop: threading.Event) -> None:
    """A watcher thread: keep one mailbox fresh until `stop`; survives errors by waiting and retrying."""
    try:
        while not stop.is_set():
            close_old_connections()
            mailbox = Mailbox.objects.select_related("organization").filter(pk=mailbox_id).first()
            if mailbox is None:
                return
            try:
                watch_mailbox(mailbox, stop, idle_seconds=WATCH_IDLE_SECONDS)
            except Exception:
                logger.exception("IDLE watcher of mailbox %s failed; retrying in a minute", mailbox_id)
                stop.wait(SUPERVISE_SECONDS)
    finally:
        connection.close()


def start_supervisor(stop: threading.Event) -> threading.Thread:
    """Start IMAP IDLE for the mailboxes that support it, in a background thread of this worker."""
    supervisor = IdleSupervisor(stop)
    thread = threading.Thread(target=supervisor.run, name="idle-supervisor", daemon=True)
    thread.start()
    return thread
