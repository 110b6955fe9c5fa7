"""Reading stored mail: the queries behind the mailbox, thread and download pages and the mail API.

Everything here takes the reader's `OrgAccess` (or mailboxes already narrowed by `visible_mailboxes`), so
mail reaches a member only through a mailbox granted to them: a message (and its attachments) is visible
when it is placed in such a mailbox or Postroom sent it from one, a thread when one of its messages is,
and anything else is Http404.

Thread lists page by keyset over (last_message_at, id), newest first, served by the thread_org_recent_id
index: a page costs the same on the first page and the ten-thousandth, with no OFFSET and no COUNT(*).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.utils import timezone

from postroom.autoresponse.models import AutoReply
from postroom.crm.models import Case, Lead
from postroom.mailboxes.access import visible_mailboxes
from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Attachment, Message, Thread, ThreadRead
from postroom.organizations.access import OrgAccess
from postroom.outbox.models import OutgoingMessage
from postroom.processing.models import InboundJob
from postroom.sync.models import Folder, Placement

PAGE_SIZE = 50
# Unread counts look at a mailbox's most recent conversations only, so the mailbox list costs the same
# with a million messages; more unread than this shows as "1000+".
UNREAD_WINDOW = 1000
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MICROSECOND = timedelta(microseconds=1)


# --- Mailboxes and folders ---------------------------------------------------------------------------


@dataclass(frozen=True)
class MailboxSummary:
    mailbox: Mailbox
    unread: int
    unread_capped: bool  # more unread conversations than UNREAD_WINDOW


def mailbox_summaries(access: OrgAccess) -> list[MailboxSummary]:
    """The mailboxes the member may read, by label, each with its unread conversations."""
    summaries = []
    for mailbox in visible_mailboxes(access).order_by("label", "pk"):
        unread = unread_count(access, mailbox)
        summaries.append(MailboxSummary(mailbox, unread, unread >= UNREAD_WINDOW))
    return summaries


def unread_count(access: OrgAccess, mailbox: Mailbox) -> int:
    """Unread conversations among the mailbox's UNREAD_WINDOW most recent ones."""
    recent = newest_first(threads_in(mailbox)).values("pk")[:UNREAD_WINDOW]
    return Thread.objects.filter(pk__in=Subquery(recent)).exclude(_read_by(access)).count()


def folders_of(mailbox: Mailbox) -> list[Folder]:
    """The folders worth browsing: the ticked ones, Inbox first, then by name."""
    folders = Folder.objects.filter(mailbox=mailbox, selected=True, selectable=True)
    return sorted(folders, key=lambda f: (f.kind != "inbox", f.display_name.lower()))


def browsable_folder(mailbox: Mailbox, folder_id: int | None) -> Folder | None:
    """The mailbox's folder `folder_id` (None for "all folders"); Http404 for another mailbox's."""
    if folder_id is None:
        return None
    folder = Folder.objects.filter(mailbox=mailbox, pk=folder_id).first()
    if folder is None:
        raise Http404("No such folder.")
    return folder


# --- Thread lists -------------------------------------------------------------------------------------


def threads_in(mailbox: Mailbox, folder: Folder | None = None) -> QuerySet[Thread]:
    """Conversations with at least one message placed in the mailbox (in `folder`, when given)."""
    placed = Placement.objects.filter(mailbox=mailbox, message=OuterRef("pk"))
    if folder is not None:
        placed = placed.filter(folder=folder)
    # Nested EXISTS, so the database walks thread -> its messages -> their placement in this mailbox
    # (three index lookups) instead of scanning the mailbox's placements for every thread.
    in_mailbox = Message.objects.filter(thread=OuterRef("pk")).filter(Exists(placed))
    return Thread.objects.filter(
        organization_id=mailbox.organization_id, last_message_at__isnull=False
    ).filter(Exists(in_mailbox))


def newest_first(threads: QuerySet[Thread]) -> QuerySet[Thread]:
    return threads.order_by("-last_message_at", "-pk")


@dataclass(frozen=True)
class Cursor:
    """A position in a thread list: the (last_message_at, id) of a thread on the page's edge."""

    at: datetime
    id: int

    def encode(self) -> str:
        """URL-safe: microseconds since the epoch, then the id."""
        return f"{(self.at - EPOCH) // MICROSECOND}_{self.id}"

    @classmethod
    def decode(cls, value: str | None) -> Cursor | None:
        """The cursor in `value`, or None for a missing or malformed one (the list then starts at the top)."""
        micros, _sep, ident = (value or "").partition("_")
        if not micros.lstrip("-").isdigit() or not ident.isdigit() or len(micros) > 20:
            return None
        try:
            return cls(EPOCH + int(micros) * MICROSECOND, int(ident))
        except OverflowError:
            return None

    @classmethod
    def of(cls, thread: Thread) -> Cursor:
        assert thread.last_message_at is not None  # threads_in excludes threads without messages
        return cls(thread.last_message_at, thread.pk)


@dataclass
class ThreadRow:
    thread: Thread
    unread: bool
    message_count: int = 0  # messages in this mailbox (and folder)
    sender: str = ""
    subject: str = ""
    snippet: str = ""
    date: datetime | None = None
    has_attachments: bool = False


@dataclass(frozen=True)
class ThreadPage:
    rows: list[ThreadRow]
    older: Cursor | None  # the link to the next, older page
    newer: Cursor | None  # the link back to newer threads


def thread_page(
    access: OrgAccess,
    mailbox: Mailbox,
    folder: Folder | None = None,
    after: Cursor | None = None,
    before: Cursor | None = None,
    limit: int = PAGE_SIZE,
) -> ThreadPage:
    """A page of the mailbox's conversations, newest first: the first page, the page older than `after`,
    or the page newer than `before`. `mailbox` must come from `readable_mailbox`."""
    threads = threads_in(mailbox, folder).annotate(is_read=Exists(_read_subquery(access)))
    if before is not None:
        found = list(threads.filter(_newer_than(before)).order_by("last_message_at", "pk")[: limit + 1])
        more_newer = len(found) > limit
        page = found[:limit][::-1]
        newer = Cursor.of(page[0]) if more_newer else None
        older = Cursor.of(page[-1]) if page else None
    else:
        query = threads.filter(_older_than(after)) if after is not None else threads
        found = list(query.order_by("-last_message_at", "-pk")[: limit + 1])
        page = found[:limit]
        older = Cursor.of(page[-1]) if len(found) > limit else None
        newer = Cursor.of(page[0]) if after is not None and page else None
    return ThreadPage(_rows(page, mailbox, folder), older, newer)


def _older_than(cursor: Cursor) -> Q:
    # The redundant `lte` bounds the index range scan; the OR picks the tie-break by id.
    return Q(last_message_at__lte=cursor.at) & (
        Q(last_message_at__lt=cursor.at) | Q(last_message_at=cursor.at, pk__lt=cursor.id)
    )


def _newer_than(cursor: Cursor) -> Q:
    return Q(last_message_at__gte=cursor.at) & (
        Q(last_message_at__gt=cursor.at) | Q(last_message_at=cursor.at, pk__gt=cursor.id)
    )


def _rows(threads: Sequence[Thread], mailbox: Mailbox, folder: Folder | None) -> list[ThreadRow]:
    """Each thread's line: its latest message in the mailbox (sender, subject, snippet, date), how many
    messages it has there, and whether any carries an attachment. One query for the whole page."""
    rows = {t.pk: ThreadRow(t, unread=not getattr(t, "is_read", False)) for t in threads}
    placed = Placement.objects.filter(mailbox=mailbox, message=OuterRef("pk"))
    if folder is not None:
        placed = placed.filter(folder=folder)
    messages = (
        Message.objects.filter(thread_id__in=list(rows))
        .filter(Exists(placed))
        .annotate(when=Coalesce("date", "created_at"))
        .order_by("when", "pk")
        .values("thread_id", "from_name", "from_address", "subject", "snippet", "when", "has_attachments")
    )
    for message in messages:
        row = rows[message["thread_id"]]
        row.message_count += 1
        row.has_attachments = row.has_attachments or message["has_attachments"]
        row.sender = message["from_name"] or message["from_address"]
        row.subject = message["subject"]
        row.snippet = message["snippet"]
        row.date = message["when"]
    return list(rows.values())


# --- Unread state -------------------------------------------------------------------------------------


def _read_subquery(access: OrgAccess) -> QuerySet[ThreadRead]:
    """The member's read mark on the outer thread, if it covers every message the thread has now."""
    return ThreadRead.objects.filter(
        user=access.user, thread=OuterRef("pk"), seen_count__gte=OuterRef("message_count")
    )


def _read_by(access: OrgAccess) -> Exists:
    return Exists(_read_subquery(access))


def mark_read(access: OrgAccess, thread: Thread) -> None:
    ThreadRead.objects.update_or_create(
        user=access.user,
        thread=thread,
        defaults={
            "organization": access.organization,
            "seen_count": thread.message_count,
            "read_at": timezone.now(),
        },
    )


def mark_unread(access: OrgAccess, thread: Thread) -> None:
    ThreadRead.objects.filter(user=access.user, thread=thread).delete()


def is_unread(access: OrgAccess, thread: Thread) -> bool:
    return not ThreadRead.objects.filter(
        user=access.user, thread=thread, seen_count__gte=thread.message_count
    ).exists()


# --- One thread, one message, one attachment -------------------------------------------------------------


def _visible_message(access: OrgAccess, message_ref: str = "pk") -> Q:
    """For a Message queryset: the message is in a mailbox the member may read, or Postroom sent it from
    one (a reply is in its thread from the moment it is queued, before the Sent folder's copy syncs)."""
    mailboxes = visible_mailboxes(access)
    placed = Placement.objects.filter(message=OuterRef(message_ref), mailbox__in=mailboxes)
    sent = OutgoingMessage.objects.filter(stored_message=OuterRef(message_ref), mailbox__in=mailboxes)
    return Q(Exists(placed)) | Q(Exists(sent))


def readable_thread(access: OrgAccess, thread_id: int) -> Thread:
    """The thread if one of its messages is in a mailbox the member may read; Http404 otherwise."""
    visible = Message.objects.filter(thread=OuterRef("pk")).filter(_visible_message(access))
    thread = (
        Thread.objects.filter(organization=access.organization, pk=thread_id).filter(Exists(visible)).first()
    )
    if thread is None:
        raise Http404("No such conversation.")
    return thread


def readable_message(access: OrgAccess, message_id: int) -> Message:
    message = (
        Message.objects.filter(organization=access.organization, pk=message_id)
        .filter(_visible_message(access))
        .first()
    )
    if message is None:
        raise Http404("No such message.")
    return message


def readable_attachment(access: OrgAccess, attachment_id: int) -> Attachment:
    attachment = (
        Attachment.objects.filter(organization=access.organization, pk=attachment_id)
        .filter(_visible_message(access, "message_id"))
        .first()
    )
    if attachment is None:
        raise Http404("No such attachment.")
    return attachment


@dataclass
class MessageView:
    """A message of a thread with what the reader sees beside it."""

    message: Message
    mailboxes: list[Mailbox] = field(default_factory=list)
    jobs: list[InboundJob] = field(default_factory=list)  # processing per visible mailbox
    auto_replies: list[AutoReply] = field(default_factory=list)
    sent_as: OutgoingMessage | None = None  # when it is mail we sent: its delivery


def thread_messages(access: OrgAccess, thread: Thread) -> list[MessageView]:
    """The thread's messages that are in mailboxes the member may read, oldest first, with their bodies,
    attachments, processing outcome per mailbox, auto-replies and (for our own mail) delivery status."""
    mailboxes = visible_mailboxes(access)
    messages = list(
        Message.objects.filter(thread=thread)
        .filter(_visible_message(access))
        .select_related("body")
        .prefetch_related("attachments")
        .annotate(when=Coalesce("date", "created_at"))
        .order_by("when", "pk")
    )
    views = {m.pk: MessageView(m) for m in messages}
    placements = Placement.objects.filter(message_id__in=list(views), mailbox__in=mailboxes)
    for placement in placements.select_related("mailbox").order_by("mailbox__label"):
        seen = views[placement.message_id].mailboxes
        if placement.mailbox not in seen:
            seen.append(placement.mailbox)
    jobs = InboundJob.objects.filter(message_id__in=list(views), mailbox__in=mailboxes)
    for job in jobs.select_related("mailbox", "lead", "case"):
        views[job.message_id].jobs.append(job)
    replies = AutoReply.objects.filter(message_id__in=list(views), mailbox__in=mailboxes)
    for reply in replies.select_related("rule", "outgoing").order_by("pk"):
        views[reply.message_id].auto_replies.append(reply)
    sent = OutgoingMessage.objects.filter(stored_message_id__in=list(views), mailbox__in=mailboxes)
    for outgoing in sent.select_related("mailbox"):
        assert outgoing.stored_message_id is not None
        view = views[outgoing.stored_message_id]
        view.sent_as = outgoing
        if outgoing.mailbox not in view.mailboxes:
            view.mailboxes.append(outgoing.mailbox)
    return list(views.values())


def thread_record(access: OrgAccess, thread: Thread) -> Lead | Case | None:
    """The lead or case created from the conversation (leads and cases are the organization's)."""
    for model in (Lead, Case):
        record = model.objects.filter(
            Q(thread=thread) | Q(message__thread=thread), organization=access.organization
        ).first()
        if record is not None:
            return record
    return None
