"""IMAP IDLE on INBOX (M4 "new mail within seconds"), with polling as the fallback.

`watch_mailbox` keeps one mailbox fresh until told to stop: sync, then wait in IDLE on INBOX until the
server reports a change (or `IDLE_SECONDS` pass, well under the 29 minutes RFC 2177 allows), then sync
again. On a server without IDLE, or while the mailbox fails, it waits for the mailbox's next_sync_at
instead, so back-off still applies. Each sync goes through `sync_mailbox` and its lease, so a watcher
and the scheduled syncs never sync one mailbox at the same time.

Every worker runs an `IdleSupervisor`, which claims mailboxes to watch (one watcher per mailbox across all
workers) up to its fair share: the IDLE-capable mailboxes divided by the live workers (those with a fresh
heartbeat, see postroom.operations.heartbeat). A worker that joins gets its share as the others give up
their excess, half of it per round; the claims of a worker that stops beating, or whose process is gone
from this machine, are taken over at the next round. Every worker counts toward the split, so all should
run with the same POSTROOM_IDLE (a worker without IDLE leaves its share to polling).
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

from django.db import close_old_connections, connection
from django.db.models import Q
from django.utils import timezone

from postroom.crypto import SecretUnreadable
from postroom.logs import log_context
from postroom.mailboxes.models import Mailbox
from postroom.operations.heartbeat import FRESH_SECONDS
from postroom.operations.models import WorkerHeartbeat
from postroom.sync import imap, lease, net
from postroom.sync.check import imap_endpoint
from postroom.sync.engine import CONNECT_TIMEOUT, SyncReport, sync_mailbox
from postroom.sync.errors import MailServerError
from postroom.sync.models import Folder, MailboxSyncState
from postroom.sync.slots import sync_slot

logger = logging.getLogger(__name__)

IDLE_SECONDS = 20 * 60
INBOX = "INBOX"
# The supervisor renews its claims every SUPERVISE_SECONDS. A claim lapses after IDLE_LEASE_SECONDS
# unrenewed (a hung supervisor); a worker that dies loses its claims sooner, see `IdleSupervisor`.
IDLE_LEASE_SECONDS = 180
SUPERVISE_SECONDS = 15
# Each worker may watch this much more than the even split, so one mailbox more or less does not move
# watches between workers.
SHARE_SLACK = 0.1
# Watchers IDLE in rounds this long, so a mailbox whose claim was lost is let go within one round.
WATCH_IDLE_SECONDS = 120
WATCH_RETRY_SECONDS = 60
# A sync skipped because another worker is syncing the mailbox is retried this soon after IDLE reports
# mail, then twice as late each time while the other run goes on, up to the maximum.
SKIP_RETRY_SECONDS = 0.5
SKIP_RETRY_MAX_SECONDS = 30.0


def wait_for_new_mail(mailbox: Mailbox, seconds: float, stop: threading.Event | None = None) -> bool | None:
    """Wait in IDLE on INBOX for up to `seconds` (less once `stop` is set). True: the server reported a
    change; False: timeout or stopped; None: IDLE is not possible (no IDLE capability, INBOX not ticked,
    or the server failed)."""
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
            return connection.idle_until_change(seconds, stop)
    except (MailServerError, SecretUnreadable) as exc:
        logger.info("IDLE on mailbox %s not possible: %s", mailbox.pk, type(exc).__name__)
        return None


def watch_mailbox(
    mailbox: Mailbox, stop: threading.Event, idle_seconds: float = IDLE_SECONDS
) -> Iterator[SyncReport]:
    """Sync, IDLE, sync... until `stop` is set, yielding each run's report.

    A run is "skipped" when another worker is syncing the mailbox right now (a scheduled sync, say, just
    after a worker started). That run covers what the server holds now, so the watcher goes into IDLE all
    the same; when IDLE returns at once (new mail, or mail the other run has not stored yet) the skipped
    sync is retried shortly instead of at the mailbox's next_sync_at. Each sync first waits for one of the
    process's sync slots (`postroom.sync.slots`), so many watchers woken at once take turns."""
    skipped_in_a_row = 0
    while not stop.is_set():
        with sync_slot(stop=stop) as taken:  # never held while waiting in IDLE below
            if not taken:
                return
            report = sync_mailbox(mailbox)
        yield report
        skipped_in_a_row = skipped_in_a_row + 1 if report.status == "skipped" else 0
        stop.wait(_pause_after(mailbox, report, idle_seconds, skipped_in_a_row, stop))


def _pause_after(
    mailbox: Mailbox, report: SyncReport, idle_seconds: float, skipped_in_a_row: int, stop: threading.Event
) -> float:
    """Wait in IDLE for new mail (unless the run failed: then back-off applies), then return how long to
    wait before the next sync."""
    if report.status == "failed":
        return _seconds_until_due(mailbox)
    changed = wait_for_new_mail(mailbox, idle_seconds, stop)
    if changed is None:
        return _seconds_until_due(mailbox)
    if changed and skipped_in_a_row:
        return min(SKIP_RETRY_SECONDS * (1 << min(skipped_in_a_row - 1, 8)), SKIP_RETRY_MAX_SECONDS)
    return 0.0


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


def fair_share(mailboxes: int, workers: int) -> int:
    """How many of `mailboxes` one of `workers` live workers watches at most: an even split plus slack."""
    share = math.ceil(mailboxes / max(workers, 1))
    return share + int(share * SHARE_SLACK)


def live_workers() -> set[str]:
    """The workers ("host:pid") with a fresh heartbeat."""
    fresh = timezone.now() - timedelta(seconds=FRESH_SECONDS)
    return set(WorkerHeartbeat.objects.filter(last_beat_at__gte=fresh).values_list("name", flat=True))


def idle_holders(mailbox_ids: set[int]) -> dict[int, str]:
    """Who holds the IDLE claim of each mailbox: an owner name, or "" for nobody (or an expired claim).
    Creates the sync state rows (which hold the claims) that are missing."""
    now = timezone.now()
    rows = MailboxSyncState.objects.filter(mailbox_id__in=mailbox_ids).values_list(
        "mailbox_id", "idle_owner", "idle_expires_at"
    )
    holders = {pk: owner if expires is not None and expires >= now else "" for pk, owner, expires in rows}
    for mailbox in Mailbox.objects.filter(pk__in=mailbox_ids - set(holders)):
        lease.state_of(mailbox)
        holders[mailbox.pk] = ""
    return holders


def claim_idle(mailbox_id: int, owner: str, gone_holder: str = "") -> bool:
    """Take or renew the IDLE watch of a mailbox for `owner`: one watcher per mailbox across all workers.
    It can be taken when nobody holds it, when the claim expired, or from `gone_holder`, a holder known to
    be gone (taken only if it still holds the claim). The mailbox's sync state row must exist."""
    now = timezone.now()
    free = (
        Q(idle_owner="") | Q(idle_expires_at__isnull=True) | Q(idle_expires_at__lt=now) | Q(idle_owner=owner)
    )
    if gone_holder:
        free |= Q(idle_owner=gone_holder)
    won = MailboxSyncState.objects.filter(free, mailbox_id=mailbox_id).update(
        idle_owner=owner, idle_expires_at=now + timedelta(seconds=IDLE_LEASE_SECONDS)
    )
    return won == 1


def release_idle(mailbox_id: int, owner: str) -> None:
    MailboxSyncState.objects.filter(mailbox_id=mailbox_id, idle_owner=owner).update(
        idle_owner="", idle_expires_at=None
    )


class IdleSupervisor:
    """Runs one watcher thread per mailbox this worker holds the IDLE claim for. `step` is one round
    (renew, give up or take claims, then start and stop watchers); `run` repeats it until `stop` is set.
    Watchers are daemon threads: stopping the worker never waits for a server to end an IDLE."""

    def __init__(self, stop: threading.Event, owner: str | None = None) -> None:
        self.stop = stop
        self.owner = owner or lease.new_owner()
        self.worker = lease.worker_of(self.owner)
        self.watchers: dict[int, tuple[threading.Thread, threading.Event]] = {}
        self._stopped: list[threading.Thread] = []  # told to stop, possibly still finishing a sync

    def step(self) -> set[int]:
        """One round; returns the ids of the mailboxes watched afterwards."""
        wanted = set(idle_candidates())
        beating = live_workers()
        share = fair_share(len(wanted), len(beating | {self.worker}))
        holders = idle_holders(wanted)
        mine = sorted(pk for pk, holder in holders.items() if holder == self.owner)
        kept = len(mine) - math.ceil(max(len(mine) - share, 0) / 2)  # give up half the excess per round
        for mailbox_id in mine[kept:]:
            release_idle(mailbox_id, self.owner)
        MailboxSyncState.objects.filter(mailbox_id__in=mine[:kept], idle_owner=self.owner).update(
            idle_expires_at=timezone.now() + timedelta(seconds=IDLE_LEASE_SECONDS)
        )
        self._take(holders, share - kept, beating)
        held = set(
            MailboxSyncState.objects.filter(mailbox_id__in=wanted, idle_owner=self.owner).values_list(
                "mailbox_id", flat=True
            )
        )
        for mailbox_id in set(self.watchers) - held:
            self._stop(mailbox_id)
        for mailbox_id in sorted(held - set(self.watchers)):
            self._start(mailbox_id)
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

    def halt(self, timeout: float) -> bool:
        """Tell every watcher to stop, keeping its claim (as a crash would), and wait up to `timeout`
        seconds for the threads to end: a sync under way finishes, an IDLE ends within a second.
        True when all have ended."""
        for thread, event in self.watchers.values():
            event.set()
            self._stopped.append(thread)
        self.watchers.clear()
        deadline = time.monotonic() + timeout
        for thread in self._stopped:
            thread.join(max(deadline - time.monotonic(), 0))
        self._stopped = [thread for thread in self._stopped if thread.is_alive()]
        return not self._stopped

    def _take(self, holders: dict[int, str], wanted: int, beating: set[str]) -> None:
        """Claim up to `wanted` mailboxes nobody holds or whose holder is gone."""
        for mailbox_id, holder in sorted(holders.items()):
            if wanted <= 0:
                return
            if holder == "" or (holder != self.owner and self._is_gone(holder, beating)):
                if claim_idle(mailbox_id, self.owner, gone_holder=holder):
                    wanted -= 1

    def _is_gone(self, holder: str, beating: set[str]) -> bool:
        """The holder's process is gone from this machine, or its worker stopped beating. Heartbeats are
        only trusted once this worker's own is seen, so a worker whose first beat is not written yet (or
        one run without heartbeats) never takes live workers' claims."""
        if lease.is_dead_local_process(holder):
            return True
        return self.worker in beating and lease.worker_of(holder) not in beating

    def _start(self, mailbox_id: int) -> None:
        event = threading.Event()
        thread = threading.Thread(
            target=_watch, args=(mailbox_id, event), name=f"idle-{mailbox_id}", daemon=True
        )
        self.watchers[mailbox_id] = (thread, event)
        thread.start()

    def _stop(self, mailbox_id: int) -> None:
        thread, event = self.watchers.pop(mailbox_id)
        event.set()
        # Only those still finishing are kept: a supervisor runs for weeks, handing watches back and forth.
        self._stopped = [*(t for t in self._stopped if t.is_alive()), thread]
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
                with log_context(organization=mailbox.organization.slug, mailbox=mailbox.pk):
                    for _report in watch_mailbox(mailbox, stop, idle_seconds=WATCH_IDLE_SECONDS):
                        pass  # each run's outcome is on the mailbox's sync state
            except Exception:
                logger.exception("IDLE watcher of mailbox %s failed; retrying in a minute", mailbox_id)
                stop.wait(WATCH_RETRY_SECONDS)
    finally:
        connection.close()


def start_supervisor(stop: threading.Event) -> threading.Thread:
    """Start IMAP IDLE for the mailboxes that support it, in a background thread of this worker."""
    supervisor = IdleSupervisor(stop)
    thread = threading.Thread(target=supervisor.run, name="idle-supervisor", daemon=True)
    thread.start()
    return thread
