"""Convert To Lead / Convert To Case (MISSION M5): the first message of a conversation that is new to the
organization becomes a lead or a case; later messages of that conversation join it.

The rules, decided where the spec is silent:
- Joining comes first: a message whose thread already has a record joins it, whatever its folder or date
  (linking a message to a record creates nothing). Only the mailbox's "Do Nothing" skips even that.
- A message creates a record when its thread has no record, and
  * it arrived in an incoming folder: Inbox or a user folder ("other"). Sent, Drafts, Trash and Spam never
    convert; neither does Archive, which holds mail someone already handled (moved or filed there);
  * the server's INTERNALDATE of that arrival is at or after `processing_enabled_at` (no INTERNALDATE:
    no conversion, so historical mail can never slip through);
  * its sender is none of the organization's own mailbox addresses;
  * the conversation is new to the organization: no message of the thread stored before this one was
    received before processing was enabled, or was sent by one of the organization's mailboxes.
  So a reply stored before its parent creates the record (nothing older is known) and the parent joins it
  when it arrives; a reply to a conversation the organization had before never creates one.
- Exactly once: each record claims its thread in `ThreadRecord` (unique per organization and thread, one
  table for leads and cases), inside the creating transaction. A concurrent worker that loses the race
  finds the claim taken (its INSERT does nothing) and joins the winner's record instead.
- Thread merges: the absorbed thread is deleted and its record's `thread` becomes NULL; the record is
  still found through its originating message, and is re-attached to the merged thread when that thread
  has no record of its own. When both had one, both records stay (the survivor's keeps the claim).
- A retired lead source is still given to new leads until an admin chooses another (the mailbox form
  warns about it); changing the mailbox's choice never touches existing records.
- Configuration that cannot work (no owner, an owner or assignee who is deactivated or left the
  organization, no lead source) raises ConversionFailed: the pipeline retries with back-off, then lists
  the message as failed on the mailbox page.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from django.db import IntegrityError, connection, transaction
from django.db.models import NOT_PROVIDED, F, Field, Min
from django.db.models.functions import Lower
from django.utils import timezone

from postroom.accounts.models import User
from postroom.crm.models import Case, Lead, LeadSource, RecordCounter, RecordKind, ThreadRecord
from postroom.mailboxes.models import Mailbox, ProcessType
from postroom.messages import bulk
from postroom.messages.models import Message, MessageBody
from postroom.messages.parse import html_to_text
from postroom.organizations.models import Organization
from postroom.processing import batchcache
from postroom.processing.batchcache import per_batch

logger = logging.getLogger(__name__)

INCOMING_KINDS = frozenset({"inbox", "other"})
NO_SUBJECT = "(no subject)"
Record = Lead | Case
_Record = TypeVar("_Record", Lead, Case)


class ConversionFailed(Exception):
    """The conversion cannot run as configured; the message says why, in words an admin can act on."""


@dataclass(frozen=True)
class Arrival:
    """Where and when a message arrived in a mailbox: what eligibility is decided on."""

    mailbox: Mailbox
    message: Message
    folder_kind: str
    internal_date: datetime | None


@dataclass(frozen=True)
class Result:
    outcome: str  # "created", "joined" or "skipped"
    record: Record | None = None
    reason: str = ""


def convert(arrival: Arrival) -> Result:
    """Create the thread's lead or case from this arrival, join the existing one, or say why neither.
    Idempotent: run again, it joins what the first run created."""
    mailbox = arrival.mailbox
    if mailbox.process_type not in (ProcessType.LEAD, ProcessType.CASE):
        return Result("skipped", reason="the mailbox's Email Processing is Do Nothing")
    message = arrival.message  # loaded when the job was claimed, so its thread is current
    existing = record_of_thread(mailbox.organization, message.thread_id)
    if existing is not None:
        return Result("joined", existing)
    reason = why_not_new(arrival, message)
    if reason:
        return Result("skipped", reason=reason)
    created = _create(mailbox, message)
    if created is None:
        batchcache.forget()  # another transaction claimed the thread: what the batch loaded is stale
        existing = record_of_thread(mailbox.organization, message.thread_id)
        if existing is None:  # its claim committed without a record: cannot happen, so retry and see
            raise RuntimeError(f"thread {message.thread_id} is claimed but has no lead or case")
        logger.info("thread %s was converted by a concurrent worker: joining", message.thread_id)
        return Result("joined", existing)
    book = ThreadBook.of_batch(mailbox.organization_id)
    if book is not None:
        book.claimed[message.thread_id] = created
    return Result("created", created)


def record_of_thread(organization: Organization, thread_id: int) -> Record | None:
    """The lead or case of this thread: the one holding the thread's claim, else (after a merge) the
    earliest whose originating message is now in the thread — re-attached to it when possible."""
    book = ThreadBook.of_batch(organization.pk)
    if book is not None and thread_id in book.threads:
        claimed, orphans = book.claimed.get(thread_id), book.orphans.get(thread_id, [])
    else:
        claimed, orphans = _claimed(organization, thread_id), []
        if claimed is None:
            orphans = [
                *Lead.objects.filter(organization=organization, message__thread_id=thread_id),
                *Case.objects.filter(organization=organization, message__thread_id=thread_id),
            ]
    if claimed is not None or not orphans:
        return claimed
    orphan = min(orphans, key=lambda r: (r.created_at, r.record_id))
    _reattach(orphan, thread_id)
    if book is not None and orphan.thread_id == thread_id:
        book.claimed[thread_id] = orphan
    return orphan


def _claimed(organization: Organization, thread_id: int) -> Record | None:
    for model in (Lead, Case):
        claimed = model.objects.filter(organization=organization, thread_id=thread_id).first()
        if claimed is not None:
            return claimed
    return None


def _reattach(record: Record, thread_id: int) -> None:
    """Give a record whose thread was merged away the claim on the merged thread (if still free)."""
    try:
        with transaction.atomic():
            claimed = ThreadRecord.objects.filter(pk=record.record_id, thread__isnull=True).update(
                thread_id=thread_id
            )
            if claimed:
                type(record).objects.filter(pk=record.pk).update(thread_id=thread_id)
                record.thread_id = thread_id
    except IntegrityError:
        pass  # another record holds the merged thread's claim; this one stays detached


def why_not_new(arrival: Arrival, message: Message) -> str:
    """Why this arrival may not create a record ("" when it may)."""
    mailbox = arrival.mailbox
    enabled_at = mailbox.processing_enabled_at
    if arrival.folder_kind not in INCOMING_KINDS:
        return f"arrived in a folder of kind {arrival.folder_kind!r}, which never converts"
    if arrival.internal_date is None:
        return "the server gave no receive date (INTERNALDATE)"
    if enabled_at is None or arrival.internal_date < enabled_at:
        return "received before processing was enabled"
    own = own_addresses(mailbox.organization)
    if message.from_address.strip().lower() in own:
        return "sent by one of the organization's own mailboxes"
    return _older_conversation(message, enabled_at, own)


@per_batch
def own_addresses(organization: Organization) -> frozenset[str]:
    return frozenset(
        e.lower() for e in Mailbox.objects.filter(organization=organization).values_list("email", flat=True)
    )


def _older_conversation(message: Message, enabled_at: datetime, own: frozenset[str]) -> str:
    from postroom.sync.models import Placement  # the sync app owns placements; read-only here

    book = ThreadBook.of_batch(message.organization_id)
    if book is not None and message.thread_id in book.threads:
        return book.older_conversation(message, enabled_at, own)
    earlier = Message.objects.filter(
        organization_id=message.organization_id, thread_id=message.thread_id, pk__lt=message.pk
    )
    if earlier.annotate(sender=Lower("from_address")).filter(sender__in=own).exists():
        return "the conversation was started by the organization"
    if Placement.objects.filter(message__in=earlier, internal_date__lt=enabled_at).exists():
        return "the conversation began before processing was enabled"
    return ""


# A processing batch's view of its threads -----------------------------------------------------------


@dataclass
class ThreadBook:
    """What `convert` asks about the threads of one processing batch, loaded for all of them at once
    (a handful of queries a batch instead of six a message) by `prepare`. The runner works through the
    batch in one transaction that holds the organization's conversion lock, so no other processing
    batch claims these threads meanwhile; records this batch creates are added as it goes, and a job
    whose writes are rolled back makes the runner forget the book (`batchcache.forget`)."""

    organization_id: int
    threads: frozenset[int]
    claimed: dict[int, Record] = field(default_factory=dict)  # thread id -> the record holding it
    orphans: dict[int, list[Record]] = field(default_factory=dict)  # after merges, see record_of_thread
    # Of threads without a record: their messages (id, lower-cased sender), and the earliest INTERNALDATE
    # of any placement of each message.
    messages: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    first_arrival: dict[int, datetime] = field(default_factory=dict)

    @staticmethod
    def of_batch(organization_id: int) -> ThreadBook | None:
        book = batchcache.recall(ThreadBook)
        return book if isinstance(book, ThreadBook) and book.organization_id == organization_id else None

    def older_conversation(self, message: Message, enabled_at: datetime, own: frozenset[str]) -> str:
        """`_older_conversation`, answered from the book."""
        earlier = [(pk, sender) for pk, sender in self.messages.get(message.thread_id, ()) if pk < message.pk]
        if any(sender in own for _, sender in earlier):
            return "the conversation was started by the organization"
        arrivals = (self.first_arrival.get(pk) for pk, _ in earlier)
        if any(arrived is not None and arrived < enabled_at for arrived in arrivals):
            return "the conversation began before processing was enabled"
        return ""


def prepare(organization_id: int, messages: Sequence[Message]) -> None:
    """Load the `ThreadBook` of a processing batch's messages (one organization's) into the batch."""
    from postroom.sync.models import Placement  # the sync app owns placements; read-only here

    threads = frozenset(m.thread_id for m in messages)
    book = ThreadBook(organization_id, threads)
    for model in (Lead, Case):
        for record in model.objects.filter(organization_id=organization_id, thread_id__in=threads):
            book.claimed.setdefault(record.thread_id, record)  # type: ignore[arg-type]
    open_threads = threads - book.claimed.keys()
    if open_threads:
        for model in (Lead, Case):
            found = model.objects.filter(organization_id=organization_id, message__thread_id__in=open_threads)
            for record in found.annotate(message_thread=F("message__thread_id")):
                book.orphans.setdefault(record.message_thread, []).append(record)
        rows = Message.objects.filter(organization_id=organization_id, thread_id__in=open_threads)
        for pk, thread_id, sender in rows.values_list("pk", "thread_id", Lower("from_address")):
            book.messages.setdefault(thread_id, []).append((pk, sender))
        placed = Placement.objects.filter(message__thread_id__in=open_threads, internal_date__isnull=False)
        first = placed.values("message_id").annotate(first=Min("internal_date"))
        book.first_arrival.update(first.values_list("message_id", "first"))
    batchcache.remember(ThreadBook, book)


# Creating ------------------------------------------------------------------------------------------


def _create(mailbox: Mailbox, message: Message) -> Record | None:
    """Claim the thread, then number and insert the record: one transaction (the caller's). None when
    another transaction holds the thread's claim."""
    owner = _active_member(mailbox, mailbox.owner_id, "owner")
    if owner is None:
        raise ConversionFailed("no owner is chosen in the mailbox's Email Processing settings")
    kind = RecordKind.LEAD if mailbox.process_type == ProcessType.LEAD else RecordKind.CASE
    source = _lead_source(mailbox) if kind == RecordKind.LEAD else None
    assignee = _active_member(mailbox, mailbox.case_assignee_id, "assignee")
    common = {
        "organization": mailbox.organization,
        "email": message.from_address[:320],
        "owner": owner,
        "mailbox": mailbox,
        "thread_id": message.thread_id,
        "message": message,
    }
    body = plain_text_body(message)
    if source is not None:
        first, last = person_name(message.from_name, message.from_address)
        lead = {
            **common,
            "name": truncate(message.subject.strip() or NO_SUBJECT, 255),
            "first_name": truncate(first, 100),
            "last_name": truncate(last, 100),
            "notes": body,
            "source": source,
        }
        return _claimed_record(Lead, lead, mailbox.organization, message.thread_id, kind)
    case = {
        **common,
        "subject": truncate(message.subject.strip() or NO_SUBJECT, 255),
        "description": body,
        "assignee": assignee,
        "status": mailbox.case_status,
        "priority": mailbox.case_priority,
    }
    return _claimed_record(Case, case, mailbox.organization, message.thread_id, kind)


def _claimed_record(
    model: type[_Record], values: dict[str, Any], organization: Organization, thread_id: int, kind: str
) -> _Record | None:
    """Claim the thread, take the next number of `kind` and insert the record with `values`; None when
    another transaction holds the thread's claim. On PostgreSQL that is one statement (`_CLAIM_AND_NUMBER`,
    and the INSERT too unless something listens to the saving of `model`): processing waits on round
    trips, and these were three of the 2.4 a conversion took. Inside `create_together` it is no statement:
    the record is inserted later, with the batch's others (and never None here: a claim taken meanwhile
    fails the whole insert, see ClaimTaken)."""
    together = _Together.of_batch(organization.pk)
    if together is not None and not bulk.listened(model):
        return together.add(model, values, organization, thread_id, kind)
    if connection.vendor == "postgresql" and not bulk.listened(ThreadRecord):
        return _claimed_record_at_once(model, values, organization, thread_id, kind)
    claim = _claim_thread(organization, thread_id, kind)
    if claim is None:
        return None
    return bulk.create(model, **values, record=claim, number=next_number(organization, kind))


_CLAIM = (  # the thread's claim, or no row when another transaction holds it; only our table's name
    f"INSERT INTO {ThreadRecord._meta.db_table} (organization_id, thread_id, kind, created_at)"  # noqa: S608
    " VALUES (%s, %s, %s, %s) ON CONFLICT (organization_id, thread_id) DO NOTHING RETURNING id"
)
# One statement: the thread's claim (nothing when another transaction holds it), then, only if the claim
# was made, the counter's next number (nothing when the organization has no counter row of this kind yet).
_CLAIM_AND_NUMBER = (  # only our constants are formatted in (hence the noqa)
    f"WITH claim AS ({_CLAIM}),"  # noqa: S608
    f" counted AS (UPDATE {RecordCounter._meta.db_table} SET last_number = last_number + 1"
    " WHERE organization_id = %s AND kind = %s AND EXISTS (SELECT FROM claim) RETURNING last_number)"
)
_CLAIMED = "(SELECT id FROM claim), (SELECT last_number FROM counted)"


def _claimed_record_at_once(
    model: type[_Record], values: dict[str, Any], organization: Organization, thread_id: int, kind: str
) -> _Record | None:
    now = timezone.now()
    values = {"created_at": now, **values}
    at = connection.ops.adapt_datetimefield_value(now)
    params: list[Any] = [organization.pk, thread_id, kind, at, organization.pk, kind]
    instance = None
    if bulk.listened(model):
        sql = f"{_CLAIM_AND_NUMBER} SELECT {_CLAIMED}, NULL"
    else:  # the record's INSERT joins in, reading the claim's id and the number
        instance = model(**values)
        columns = [_attname(model, name) for name in values]
        insert, row = bulk.insert_select(
            model,
            columns,
            [getattr(instance, c) for c in columns],
            computed={"record_id": "claim.id", "number": "counted.last_number"},
            source="claim, counted",
        )
        sql = f"{_CLAIM_AND_NUMBER}, made AS ({insert}) SELECT {_CLAIMED}, (SELECT id FROM made)"  # noqa: S608
        params += row
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        claim_id, number, pk = cursor.fetchone()
    if claim_id is None:
        return None
    claim = _claim(organization, thread_id, kind, now, claim_id)
    if number is None:  # the organization's first record of this kind outside a processing batch
        number = next_number(organization, kind)
    if instance is None or pk is None:
        return bulk.create(model, **values, record=claim, number=number)
    instance.record, instance.number = claim, number
    return bulk.as_saved(instance, pk)


class ClaimTaken(Exception):
    """A thread that a batch converting together meant to claim was claimed by another transaction
    meanwhile. The runner then runs the batch again job by job, where that job joins the other record."""


@dataclass
class _Together:
    """The records a processing batch creates (`create_together`): built in memory, numbered from the
    counters the batch holds locked, and inserted with their claims at the end of the conversions."""

    organization_id: int
    numbers: dict[str, int]  # kind -> the last number given (the counter's, locked by the batch)
    records: list[Record] = field(default_factory=list)

    @staticmethod
    def of_batch(organization_id: int) -> _Together | None:
        together = _together.get()
        return together if together is not None and together.organization_id == organization_id else None

    def add(
        self,
        model: type[_Record],
        values: dict[str, Any],
        organization: Organization,
        thread_id: int,
        kind: str,
    ) -> _Record:
        now = timezone.now()
        self.numbers[kind] += 1
        claim = ThreadRecord(organization=organization, thread_id=thread_id, kind=kind, created_at=now)
        record = model(**{"created_at": now, **values}, record=claim, number=self.numbers[kind])
        self.records.append(record)
        return record

    def insert(self) -> None:
        for model, kind in ((Lead, RecordKind.LEAD), (Case, RecordKind.CASE)):
            records = [r for r in self.records if type(r) is model]
            if records:
                _insert_together(model, records, self.organization_id, kind, self.numbers[kind])


_together: ContextVar[_Together | None] = ContextVar("postroom_create_together", default=None)


@contextmanager
def create_together(organization_id: int, numbers: dict[str, int]) -> Iterator[None]:
    """While open (in a processing batch that holds the organization's counters, see
    `serialise_conversions`, whose `numbers` it takes), the records conversions create are built in
    memory; on leaving, they are inserted with their threads' claims and the counters are advanced, in
    one statement per kind (three on SQLite). A conversion was one round trip per record, about a third of
    processing's time (bench.processing). Records read before leaving have no key yet: the caller uses
    them after. Raises ClaimTaken when another transaction claimed one of the threads meanwhile. Only
    while nothing listens to the saving of claims."""
    if bulk.listened(ThreadRecord):
        yield
        return
    together = _Together(organization_id, dict(numbers))
    reset = _together.set(together)  # not in batchcache: `batchcache.forget` must not drop what it holds
    try:
        yield
    finally:
        _together.reset(reset)
    together.insert()


def _insert_together(
    model: type[Lead] | type[Case], records: list[Record], organization_id: int, kind: str, last_number: int
) -> None:
    """Claim the records' threads, insert the records and set the kind's counter to `last_number`; give
    each record and claim its key."""
    fields = [
        f
        for f in model._meta.concrete_fields
        if not f.primary_key and f.attname != "record_id" and f.db_default is NOT_PROVIDED
    ]
    insert = _insert_at_once if connection.vendor == "postgresql" else _insert_in_steps
    made = insert(_Insertion(model, fields, records, organization_id, kind, last_number))
    if len(made) < len(records):
        raise ClaimTaken(
            f"{len(records) - len(made)} of the batch's threads were claimed by another transaction"
        )
    for record in records:
        pk, claim_id = made[record.thread_id]
        record.record = bulk.as_saved(record.record, claim_id)
        bulk.as_saved(record, pk)


Made = dict[int | None, tuple[int, int]]  # thread id (never None here) -> (the record's key, its claim's key)


@dataclass(frozen=True)
class _Insertion:
    """What `_insert_together` inserts: `records` of `model` (their `fields`), and the kind's counter."""

    model: type[Lead] | type[Case]
    fields: list[bulk.Field]
    records: list[Record]
    organization_id: int
    kind: str
    last_number: int


def _insert_at_once(batch: _Insertion) -> Made:
    """`_insert_together` in one statement (PostgreSQL): the claims, the records joined to the claims
    made, and the counter."""
    quote = connection.ops.quote_name
    model, fields = batch.model, batch.fields
    source, arrays = bulk.unnest(
        model, [f.attname for f in fields], [[f.value_from_object(r) for f in fields] for r in batch.records]
    )
    columns = [quote(f.column) for f in fields]
    sql = (  # names from the models, quoted (hence the noqa)
        f"WITH input AS (SELECT * FROM {source} WITH ORDINALITY AS input ({', '.join(columns)}, ord)),"  # noqa: S608
        f" claim AS (INSERT INTO {quote(ThreadRecord._meta.db_table)}"
        " (organization_id, thread_id, kind, created_at)"
        " SELECT %s, thread_id, %s, created_at FROM input ORDER BY ord"
        " ON CONFLICT (organization_id, thread_id) DO NOTHING RETURNING id, thread_id),"
        f" made AS (INSERT INTO {quote(model._meta.db_table)} ({', '.join(columns)}, record_id)"
        f" SELECT {', '.join(f'input.{c}' for c in columns)}, claim.id FROM input"
        " JOIN claim ON claim.thread_id = input.thread_id ORDER BY input.ord"
        " RETURNING id, thread_id, record_id),"
        f" counted AS (UPDATE {quote(RecordCounter._meta.db_table)} SET last_number = %s"
        " WHERE organization_id = %s AND kind = %s)"
        " SELECT thread_id, id, record_id FROM made"
    )
    with connection.cursor() as cursor:
        organization, kind = batch.organization_id, batch.kind
        cursor.execute(sql, [*arrays, organization, kind, batch.last_number, organization, kind])
        return {thread_id: (pk, claim_id) for thread_id, pk, claim_id in cursor.fetchall()}


def _insert_in_steps(batch: _Insertion) -> Made:
    """`_insert_together` in three statements, for SQLite (which has no INSERT in a WITH): the claims,
    then, only if every one was made, the records and the counter. A conversion took three statements
    of its own, and SQLite's statements cost CPU in this process (bench.processing --no-rule, 2,000 jobs:
    2.4 -> 0.2 statements a job, 2,697-2,752 -> 3,172-3,403 jobs/s)."""
    records, fields = batch.records, batch.fields
    claims = bulk.insert_returning(
        ThreadRecord,
        ("organization_id", "thread_id", "kind", "created_at"),
        [(batch.organization_id, r.thread_id, batch.kind, r.created_at) for r in records],
        ("thread_id", "id"),
        ignore_conflicts=True,
    )
    claim_ids: dict[int | None, int] = {thread_id: pk for thread_id, pk in claims}
    if len(claim_ids) < len(records):
        return {}
    rows = [[f.value_from_object(r) for f in fields] + [claim_ids[r.thread_id]] for r in records]
    keys = bulk.insert_returning_ids(batch.model, [f.attname for f in fields] + ["record_id"], rows)
    counter = RecordCounter.objects.filter(organization_id=batch.organization_id, kind=batch.kind)
    counter.update(last_number=batch.last_number)
    return {r.thread_id: (pk, claim_ids[r.thread_id]) for r, pk in zip(records, keys, strict=True)}


def _claim_thread(organization: Organization, thread_id: int, kind: str) -> ThreadRecord | None:
    """Insert the thread's claim, or None when another transaction holds it (or is inserting it: then
    this waits for that one's outcome). ON CONFLICT instead of catching IntegrityError: a failed INSERT
    aborts a PostgreSQL transaction, so catching needed a savepoint, two round trips a record. Only when
    something listens to the saving of claims does it go through the ORM (see `bulk.create`)."""
    if bulk.listened(ThreadRecord):
        try:
            with transaction.atomic():
                return ThreadRecord.objects.create(organization=organization, thread_id=thread_id, kind=kind)
        except IntegrityError:
            return None
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _CLAIM, [organization.pk, thread_id, kind, connection.ops.adapt_datetimefield_value(now)]
        )
        row = cursor.fetchone()
    return None if row is None else _claim(organization, thread_id, kind, now, row[0])


def _claim(
    organization: Organization, thread_id: int, kind: str, created_at: datetime, pk: int
) -> ThreadRecord:
    """The claim inserted by hand as row `pk`, as the ORM would have returned it."""
    claim = ThreadRecord(organization=organization, thread_id=thread_id, kind=kind, created_at=created_at)
    return bulk.as_saved(claim, pk)


def _attname(model: type[_Record], name: str) -> str:
    field = model._meta.get_field(name)
    assert isinstance(field, Field)  # a concrete column, not a reverse relation
    return field.attname


def _active_member(mailbox: Mailbox, user_id: int | None, role: str) -> User | None:
    if user_id is None:
        return None
    user = _active_user(user_id, mailbox.organization_id)
    if user is None:
        raise ConversionFailed(
            f"the {role} chosen in the mailbox's Email Processing settings is deactivated or no longer "
            "a member of the organization"
        )
    return user


@per_batch
def _active_user(user_id: int, organization_id: int) -> User | None:
    return User.objects.filter(
        pk=user_id, is_active=True, memberships__organization_id=organization_id
    ).first()


def _lead_source(mailbox: Mailbox) -> LeadSource:
    source = _source(mailbox.lead_source_id, mailbox.organization_id) if mailbox.lead_source_id else None
    if source is None:
        raise ConversionFailed("no lead source is chosen in the mailbox's Email Processing settings")
    return source  # retired or not: it stays until an admin picks another


@per_batch
def _source(source_id: int, organization_id: int) -> LeadSource | None:
    return LeadSource.objects.filter(pk=source_id, organization_id=organization_id).first()


def serialise_conversions(organization_id: int) -> dict[str, int]:
    """Lock the organization's record counters until the caller's transaction ends, and return their
    last numbers by kind. The processing runner takes this first in every batch transaction: a batch
    claims threads and numbers (and reply slots) for many messages, so two workers' batches of one
    organization must run one after the other — each waiting for the other's claims halfway would be a
    deadlock."""
    counters = RecordCounter.objects.select_for_update().filter(organization_id=organization_id)
    numbers = dict(counters.order_by("kind").values_list("kind", "last_number"))
    if len(numbers) < len(RecordKind.values):
        RecordCounter.objects.bulk_create(  # the organization's first batch: create them, then lock
            [RecordCounter(organization_id=organization_id, kind=kind) for kind in RecordKind.values],
            ignore_conflicts=True,
        )
        numbers = dict(counters.order_by("kind").values_list("kind", "last_number"))
    return numbers


def next_number(organization: Organization, kind: str) -> int:
    """The next number of `kind` in the organization. Holds the counter row's lock until the caller's
    transaction ends, so concurrent conversions are numbered one after the other."""
    number = _increment(organization.pk, kind)
    if number is None:  # the organization's first record of this kind outside a processing batch
        RecordCounter.objects.bulk_create(
            [RecordCounter(organization=organization, kind=kind)], ignore_conflicts=True
        )
        number = _increment(organization.pk, kind)
    assert number is not None  # the row exists now
    return number


def _increment(organization_id: int, kind: str) -> int | None:
    """Increment the counter and read it back in one round trip (None when the row is missing)."""
    table = RecordCounter._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET last_number = last_number + 1"  # noqa: S608 - the table name is ours
            " WHERE organization_id = %s AND kind = %s RETURNING last_number",
            [organization_id, kind],
        )
        row = cursor.fetchone()
    return None if row is None else int(row[0])


# Shaping the message into record fields ------------------------------------------------------------

_BLOCK_END = re.compile(r"(?i)<br\s*/?>|</(?:p|div|li|tr|h[1-6]|blockquote)\s*>")
_SPACES = re.compile(r"[ \t\r\f\v]+")
_BLANK_LINES = re.compile(r"\n{3,}")
_NAME_SEPARATORS = re.compile(r"[._\-]+")


def plain_text_body(message: Message) -> str:
    """The message's plain-text body; HTML-only mail is converted to text, keeping its line breaks."""
    try:
        body = message.body  # loaded with the job in a processing batch
    except MessageBody.DoesNotExist:
        return ""
    text = body.text if body.text.strip() else html_to_text(_BLOCK_END.sub("\n", body.html))
    lines = [_squeezed(line).strip() for line in text.replace("\x00", "").split("\n")]
    joined = "\n".join(lines)
    return (_BLANK_LINES.sub("\n\n", joined) if "\n\n\n" in joined else joined).strip()


def _squeezed(line: str) -> str:
    """`line` with each run of spaces and tabs made one space. Most lines have nothing to squeeze, and
    finding that with `in` is ~20x faster than the regex's match-and-replace of every single space
    (conversion spent a tenth of its time here: bench.processing)."""
    if "  " in line or "\t" in line or "\r" in line or "\f" in line or "\v" in line:
        return _SPACES.sub(" ", line)
    return line


def person_name(display_name: str, address: str) -> tuple[str, str]:
    """(first, last) from the display name ("Ann Lee", "Lee, Ann"), else from the address's local part
    ("ann.lee+sales@..." -> Ann, Lee)."""
    name = " ".join(display_name.replace('"', " ").split())
    if name and "@" not in name:
        if "," in name:
            last, _, first = name.partition(",")
            return first.strip(), last.strip()
        first, _, last = name.partition(" ")
        return first, last
    local = address.split("@", 1)[0].split("+", 1)[0]
    parts = [p.capitalize() for p in _NAME_SEPARATORS.split(local) if p]
    if not parts:
        return "", ""
    return parts[0], " ".join(parts[1:])


def truncate(text: str, limit: int) -> str:
    """`text` cut to at most `limit` characters without splitting a character sequence: no dangling
    combining mark, joiner or variation selector, ending in "…" when cut."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    while cut and (_glues(cut[-1]) or _glues(text[len(cut)])):
        cut = cut[:-1]
    return cut.rstrip() + "…"


def _glues(char: str) -> bool:
    """Characters that glue onto their neighbours into one visible symbol (combining marks, ZWJ,
    variation selectors, emoji skin-tone modifiers): cutting next to them breaks the symbol."""
    code = ord(char)
    return (
        bool(unicodedata.combining(char))
        or code == 0x200D
        or 0xFE00 <= code <= 0xFE0F
        or 0x1F3FB <= code <= 0x1F3FF
        or 0xE0100 <= code <= 0xE01EF
        or unicodedata.category(char) == "Cs"
    )
