"""The sync engine (M4): copy the ticked folders of a mailbox from its IMAP server, never losing or
duplicating mail.

Contracts:
- Read-only on the server: folders are EXAMINEd, bodies fetched with BODY.PEEK[]; nothing is flagged,
  moved, deleted or expunged.
- Exactly once: each batch's messages, their placements and the folder's UID checkpoint commit in ONE
  transaction, so a crash, kill -9 or dropped connection resumes after the last committed batch with no
  gap and no duplicate. Message identity (store_messages) makes re-fetching harmless anyway.
- UIDVALIDITY is compared every run; when it changed the folder's placements are dropped (messages stay)
  and the folder is fetched again from UID 1.
- Flag changes come from CONDSTORE (CHANGEDSINCE) when offered, else from a FLAGS fetch of known UIDs;
  server-side deletions from comparing UID SEARCH ALL with the placements. A moved message is a deletion
  here and a new UID there: the same Message row gets the new placement.
- One worker per mailbox (the lease); a failing mailbox records its error and backs off and never stops
  the others.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from postroom.crypto import SecretUnreadable
from postroom.mailboxes.models import Mailbox
from postroom.messages import bulk
from postroom.messages.parse import ParsedMessage
from postroom.messages.store import store_parsed
from postroom.processing.intake import record_new_placements
from postroom.sync import imap, lease, net, scheduler
from postroom.sync.check import imap_endpoint
from postroom.sync.errors import MailServerError, scrub
from postroom.sync.models import Folder, MailboxSyncState, Placement
from postroom.sync.parsing import Pipeline, parse_all

logger = logging.getLogger(__name__)

BATCH = 250  # messages per FETCH and per transaction: ~12 MB at 50 KB a message
PARALLEL_PARSE_BATCHES = 4  # from this many batches on, the pipeline pays for its start-up
# The pipeline's first batch, doubled batch by batch up to BATCH: nothing is stored until the first batch is
# fetched and parsed, which takes ~0.15 s for a whole one.
FIRST_PIPELINED_BATCH = 50
CONNECT_TIMEOUT = 30.0
FOLDER_GONE = "folder_gone"
SEEN = "\\Seen"


@dataclass
class FolderReport:
    name: str
    fetched: int = 0
    created: int = 0
    parse_errors: int = 0
    flags_updated: int = 0
    removed: int = 0
    uidvalidity_reset: bool = False


@dataclass
class SyncReport:
    """The outcome of one run for one mailbox. `status`: "ok", "failed" or "skipped" (another worker
    holds the lease). `warnings` are problems that did not stop the run (a folder gone)."""

    mailbox_id: int
    label: str
    status: str = "ok"
    error_code: str = ""
    error: str = ""
    warnings: list[str] = field(default_factory=list)
    folders: list[FolderReport] = field(default_factory=list)

    @property
    def fetched(self) -> int:
        return sum(f.fetched for f in self.folders)

    @property
    def created(self) -> int:
        return sum(f.created for f in self.folders)

    @property
    def parse_errors(self) -> int:
        return sum(f.parse_errors for f in self.folders)

    @property
    def failed(self) -> bool:
        return self.status == "failed" or bool(self.warnings)


def sync_mailbox(mailbox: Mailbox, owner: str | None = None) -> SyncReport:
    """One sync run of `mailbox`, if no other worker is syncing it. Never raises for server trouble or
    bad mail: the outcome is in the report and on the mailbox's MailboxSyncState."""
    owner = owner or lease.new_owner()
    report = SyncReport(mailbox.pk, mailbox.label)
    if not lease.claim(mailbox, owner):
        report.status = "skipped"
        return report
    try:
        _run(mailbox, owner, report)
    finally:
        lease.release(mailbox.pk, owner)
    return report


def sync_due(now: datetime | None = None) -> list[SyncReport]:
    """Sync every mailbox that is due, one after the other, in this process."""
    return [sync_mailbox(mailbox) for mailbox in scheduler.due_mailboxes(now or timezone.now())]


def _run(mailbox: Mailbox, owner: str, report: SyncReport) -> None:
    MailboxSyncState.objects.filter(mailbox=mailbox).update(
        last_sync_started_at=timezone.now(), runs=F("runs") + 1
    )
    try:
        endpoint = imap_endpoint(mailbox)
    except SecretUnreadable as exc:
        message = f"The stored password cannot be read ({exc}). Enter the password again and save."
        _record_failure(mailbox, report, "secret_unreadable", message)
        return
    try:
        with imap.connect(endpoint, net.Deadline(CONNECT_TIMEOUT)) as connection:
            _sync_folders(connection, mailbox, owner, report)
    except MailServerError as exc:
        _record_failure(mailbox, report, exc.code, scrub(exc.message, endpoint.password))
    except lease.LeaseLost as exc:
        report.status = "skipped"
        report.error = str(exc)
    except Exception as exc:  # a bug or a database outage: record it, keep the other mailboxes going
        logger.exception("sync of mailbox %s failed unexpectedly", mailbox.pk)
        message = f"The sync failed unexpectedly ({type(exc).__name__}); see the worker log."
        _record_failure(mailbox, report, "internal_error", message)
    else:
        _record_success(mailbox, report)


def _sync_folders(connection: imap.ImapConnection, mailbox: Mailbox, owner: str, report: SyncReport) -> None:
    condstore = connection.enable_condstore()
    on_server = {raw.name for raw in connection.list_folders()}
    ticked = Folder.objects.filter(mailbox=mailbox, selected=True, selectable=True).order_by("name")
    for folder in ticked:
        if folder.name not in on_server:
            _mark_gone(folder, report)
            continue
        if not folder.exists_on_server:
            Folder.objects.filter(pk=folder.pk).update(exists_on_server=True)
        folder_sync = FolderSync(connection, mailbox, folder, owner, condstore)
        report.folders.append(folder_sync.report)  # counts what committed, even if the run fails later
        folder_sync.run()


def _mark_gone(folder: Folder, report: SyncReport) -> None:
    Folder.objects.filter(pk=folder.pk).update(exists_on_server=False)
    report.warnings.append(
        f"folder {folder.display_name} no longer exists on the server (renamed or deleted): re-check "
        f"folders. Its messages are kept."
    )


class FolderSync:
    """One folder's part of a run: new mail above the checkpoint, then flags and deletions."""

    def __init__(
        self, connection: imap.ImapConnection, mailbox: Mailbox, folder: Folder, owner: str, condstore: bool
    ) -> None:
        self.connection = connection
        self.mailbox = mailbox
        self.folder = folder
        self.owner = owner
        self.condstore = condstore
        self.report = FolderReport(folder.display_name)

    def run(self) -> FolderReport:
        status = self.connection.examine(self.folder.name)
        self._check_uidvalidity(status)
        if status.exists:
            uids = self.connection.search_uids(above=self.folder.last_uid, since=self.mailbox.sync_since)
            self._fetch_and_store(uids)
            self._refresh_flags(status)
        server_uids = self.connection.all_uids() if status.exists else set()
        self._finish(status, server_uids)
        return self.report

    def _fetch_and_store(self, uids: Sequence[int]) -> None:
        """Fetch and store `uids` batch by batch. For a large backlog, batch k+1 is fetched and parsed
        (in a thread and a helper process) while batch k is written: fetching, parsing and the
        database are the three big costs."""
        if len(uids) <= (PARALLEL_PARSE_BATCHES - 1) * BATCH:  # too few batches to pay for the pipeline
            for chunk in _chunks(uids, BATCH):
                fetched = self.connection.fetch_messages(chunk)
                self._store_batch(chunk, fetched, parse_all([m.raw for m in fetched]))
            return
        chunks = list(_chunks(uids, BATCH, first=FIRST_PIPELINED_BATCH))
        with Pipeline(self.connection.fetch_messages, chunks) as pipeline:
            for chunk, fetched, parsed in pipeline:
                self._store_batch(chunk, fetched, parsed)

    def _check_uidvalidity(self, status: imap.FolderStatus) -> None:
        """A changed UIDVALIDITY means every UID we hold for this folder is meaningless: drop the
        placements (the messages stay, and identity finds them again) and start over from UID 1."""
        folder = self.folder
        if folder.uidvalidity == status.uidvalidity:
            return
        with transaction.atomic():
            lease.renew(self.mailbox.pk, self.owner)
            if folder.uidvalidity is not None:
                Placement.objects.filter(folder=folder).delete()
                MailboxSyncState.objects.filter(mailbox=self.mailbox).update(
                    uidvalidity_resets=F("uidvalidity_resets") + 1
                )
                self.report.uidvalidity_reset = True
                logger.info("folder %s: UIDVALIDITY changed, re-syncing from UID 1", folder.pk)
            Folder.objects.filter(pk=folder.pk).update(
                uidvalidity=status.uidvalidity, last_uid=0, highest_modseq=None, uidnext=None
            )
        folder.uidvalidity, folder.last_uid, folder.highest_modseq = status.uidvalidity, 0, None

    def _store_batch(
        self, uids: Sequence[int], fetched: list[imap.FetchedMessage], parsed: list[ParsedMessage]
    ) -> None:
        """Messages, placements and the checkpoint of one batch, in one transaction."""
        checkpoint = max(uids)
        mailbox, folder = self.mailbox, self.folder
        with transaction.atomic():
            stored = store_parsed(mailbox.organization, [m.raw for m in fetched], parsed)
            placements = [
                _placement(mailbox, folder, m, s.message_id) for m, s in zip(fetched, stored, strict=True)
            ]
            # A worker whose lease we took over may have placed some already: those rows are skipped.
            bulk.insert(
                Placement,
                PLACEMENT_COLUMNS,
                map(_placement_row, placements),
                same={
                    "organization_id": mailbox.organization_id,
                    "mailbox_id": mailbox.pk,
                    "folder_id": folder.pk,
                },
                ignore_conflicts=True,
            )
            # Processing (conversion, auto-replies) is recorded with the mail it concerns, so a crash can
            # never leave stored mail that nobody will process; it runs after this transaction commits.
            record_new_placements(placements)
            Folder.objects.filter(pk=folder.pk, last_uid__lt=checkpoint).update(last_uid=checkpoint)
            created = sum(1 for s in stored if s.created)
            MailboxSyncState.objects.filter(mailbox=mailbox).update(
                messages_fetched=F("messages_fetched") + len(fetched),
                messages_created=F("messages_created") + created,
            )
            # Last, so the commit depends on still holding the lease; the row lock it takes makes a
            # concurrent takeover wait for our commit.
            lease.renew(mailbox.pk, self.owner)
        folder.last_uid = max(folder.last_uid, checkpoint)
        self.report.fetched += len(fetched)
        self.report.created += created
        self.report.parse_errors += sum(1 for s in stored if s.created and s.parse_error)

    def _refresh_flags(self, status: imap.FolderStatus) -> None:
        """Bring the flags of messages we already had up to date, without fetching bodies."""
        known_modseq = self.folder.highest_modseq
        if self.condstore and status.highest_modseq is not None:
            if known_modseq is None or status.highest_modseq <= known_modseq:
                return  # first sync (flags came with the bodies) or nothing changed
            changes = self.connection.fetch_flags("1:*", changed_since=known_modseq)
        else:
            if not self.folder.last_uid:
                return
            changes = self.connection.fetch_flags(f"1:{self.folder.last_uid}")
        self.report.flags_updated += _apply_flags(self.folder, changes)

    def _finish(self, status: imap.FolderStatus, server_uids: set[int]) -> None:
        """Drop placements of messages no longer on the server and store the folder's new state."""
        folder = self.folder
        known = set(Placement.objects.filter(folder=folder).values_list("uid", flat=True))
        gone = sorted(known - server_uids)
        checkpoint = folder.last_uid
        if status.uidnext is not None:
            # Every UID below UIDNEXT existed when we EXAMINEd, and SEARCH ran after: all are handled.
            checkpoint = max(checkpoint, status.uidnext - 1)
        with transaction.atomic():
            lease.renew(self.mailbox.pk, self.owner)
            for chunk in _chunks(gone, 500):
                Placement.objects.filter(folder=folder, uid__in=chunk).delete()
            Folder.objects.filter(pk=folder.pk).update(
                uidnext=status.uidnext,
                highest_modseq=status.highest_modseq if self.condstore else None,
                last_uid=checkpoint,
            )
        folder.last_uid = checkpoint
        self.report.removed = len(gone)


def _placement(mailbox: Mailbox, folder: Folder, fetched: imap.FetchedMessage, message_id: int) -> Placement:
    return Placement(
        organization_id=mailbox.organization_id,
        mailbox=mailbox,
        folder=folder,
        uid=fetched.uid,
        message_id=message_id,
        flags=list(fetched.flags),
        seen=SEEN in fetched.flags,
        internal_date=fetched.internal_date,
        size=fetched.size,
        modseq=fetched.modseq,
    )


PLACEMENT_COLUMNS = ("uid", "message_id", "flags", "seen", "internal_date", "size", "modseq")


def _placement_row(p: Placement) -> tuple[object, ...]:
    return (p.uid, p.message_id, p.flags, p.seen, p.internal_date, p.size, p.modseq)


def _apply_flags(folder: Folder, changes: list[imap.FlagState]) -> int:
    """Update the placements whose flags differ from the server's; returns how many changed."""
    by_uid = {change.uid: change for change in changes}
    changed: list[Placement] = []
    for chunk in _chunks(sorted(by_uid), 500):
        for placement in Placement.objects.filter(folder=folder, uid__in=chunk):
            state = by_uid[placement.uid]
            if sorted(placement.flags) != sorted(state.flags) or placement.modseq != state.modseq:
                placement.flags = list(state.flags)
                placement.seen = SEEN in state.flags
                placement.modseq = state.modseq
                changed.append(placement)
    Placement.objects.bulk_update(changed, ["flags", "seen", "modseq"], batch_size=500)
    return len(changed)


def _record_success(mailbox: Mailbox, report: SyncReport) -> None:
    now = timezone.now()
    state = lease.state_of(mailbox)
    warning = "; ".join(report.warnings)
    code = FOLDER_GONE if warning else ""
    since = state.error_since if (code and state.last_error_code == code) else (now if code else None)
    MailboxSyncState.objects.filter(pk=state.pk).update(
        last_sync_finished_at=now,
        last_success_at=now,
        consecutive_failures=0,
        last_error_code=code,
        last_error=warning,
        error_since=since,
        next_sync_at=scheduler.next_sync_after_success(
            mailbox, state.next_sync_at, state.last_sync_started_at, now
        ),
        last_run_fetched=report.fetched,
        last_run_created=report.created,
    )
    report.error_code, report.error = code, warning


def _record_failure(mailbox: Mailbox, report: SyncReport, code: str, message: str) -> None:
    """Keep what the admin needs: the error, since when the mailbox fails, and when it retries."""
    now = timezone.now()
    state = lease.state_of(mailbox)
    failures = state.consecutive_failures + 1
    since = state.error_since if state.consecutive_failures and state.error_since else now
    MailboxSyncState.objects.filter(pk=state.pk).update(
        last_sync_finished_at=now,
        consecutive_failures=failures,
        last_error_code=code,
        last_error=message,
        error_since=since,
        next_sync_at=scheduler.next_sync_after_failure(mailbox, now, failures),
        last_run_fetched=report.fetched,
        last_run_created=report.created,
    )
    report.status, report.error_code, report.error = "failed", code, message
    logger.info("sync of mailbox %s failed: %s", mailbox.pk, code)


def _chunks(items: Sequence[int], size: int, first: int | None = None) -> Iterator[Sequence[int]]:
    """Chunks of `size` items; with `first`, the first chunk has that many, the next twice as many, and
    so on up to `size`."""
    start, length = 0, min(first or size, size)
    while start < len(items):
        yield items[start : start + length]
        start += length
        length = min(size, length * 2)
