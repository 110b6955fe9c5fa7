"""Reading mail over JSON (MISSION M8): the mailboxes a member may read with unread counts, a mailbox's
conversations by cursor, a conversation with sanitized bodies, attachment downloads and search.

Member level, narrowed by mailbox access: a mailbox, thread or attachment outside the caller's grant is
404, exactly as in the web UI (both go through `postroom.messages.reading`). Reading a thread here does
not mark it read (the web thread page does); the client marks it read or unread explicitly.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from django.http import HttpRequest, StreamingHttpResponse
from ninja import Field, Router, Schema

from postroom.api.schemas import ErrorOut, responses
from postroom.api.tenancy import open_org
from postroom.mailboxes.access import readable_mailbox, visible_mailboxes
from postroom.messages.download import attachment_download
from postroom.messages.models import Message, Thread
from postroom.messages.reading import (
    PAGE_SIZE,
    Cursor,
    MessageView,
    ThreadRow,
    browsable_folder,
    is_unread,
    mailbox_summaries,
    mark_read,
    mark_unread,
    readable_attachment,
    readable_thread,
    thread_messages,
    thread_page,
)
from postroom.messages.sanitize import sanitize_html
from postroom.messages.search import search
from postroom.organizations.access import OrgAccess

router = Router(tags=["mail"])


class MailMailboxOut(Schema):
    id: int
    label: str
    email: str
    unread: int = Field(description="Unread conversations among the mailbox's 1,000 most recent.")
    unread_capped: bool = Field(description="True when there are more unread than counted.")


class MailThreadSummaryOut(Schema):
    id: int
    subject: str
    sender: str = Field(description="The sender of the latest message in this mailbox.")
    snippet: str
    date: datetime | None
    message_count: int = Field(description="Messages of the conversation in this mailbox (and folder).")
    has_attachments: bool
    unread: bool


class MailThreadListOut(Schema):
    threads: list[MailThreadSummaryOut]
    older: str | None = Field(description="Pass as `after` for the next (older) page; null on the last.")
    newer: str | None = Field(description="Pass as `before` for the previous (newer) page.")


class MailAttachmentOut(Schema):
    id: int
    filename: str
    content_type: str
    size: int
    inline: bool


class MailMessageOut(Schema):
    id: int
    subject: str
    from_name: str
    from_address: str
    to: list[list[str]]
    cc: list[list[str]]
    date: datetime | None
    text: str
    html: str = Field(description="Sanitized HTML (no script, no remote images); empty for plain text.")
    blocked_images: int = Field(description="Remote images removed from `html`.")
    parse_error: str
    mailboxes: list[int]
    attachments: list[MailAttachmentOut]


class MailThreadOut(Schema):
    id: int
    subject: str
    unread: bool
    messages: list[MailMessageOut]


class MailSearchHitOut(Schema):
    id: int
    thread_id: int
    subject: str
    from_name: str
    from_address: str
    date: datetime | None
    snippet: str


class MailSearchOut(Schema):
    results: list[MailSearchHitOut]
    older: str | None = Field(description="Pass as `before` for the next (older) page; null on the last.")


@router.get(
    "/orgs/{slug}/mail/mailboxes",
    response=responses({200: list[MailMailboxOut]}, forbidden=False),
    summary="Mailboxes you may read, with unread counts",
)
def list_mail_mailboxes(request: HttpRequest, slug: str) -> list[MailMailboxOut]:
    access = open_org(request, slug, "member")
    return [
        MailMailboxOut(
            id=s.mailbox.pk,
            label=s.mailbox.label,
            email=s.mailbox.email,
            unread=s.unread,
            unread_capped=s.unread_capped,
        )
        for s in mailbox_summaries(access)
    ]


def _summary_out(row: ThreadRow) -> MailThreadSummaryOut:
    return MailThreadSummaryOut(
        id=row.thread.pk,
        subject=row.subject or row.thread.subject,
        sender=row.sender,
        snippet=row.snippet,
        date=row.date,
        message_count=row.message_count,
        has_attachments=row.has_attachments,
        unread=row.unread,
    )


@router.get(
    "/orgs/{slug}/mail/mailboxes/{mailbox_id}/threads",
    response=responses({200: MailThreadListOut}, forbidden=False),
    summary="A mailbox's conversations, newest first, by cursor",
)
def list_mail_threads(
    request: HttpRequest,
    slug: str,
    mailbox_id: int,
    folder: int | None = None,
    after: str | None = None,
    before: str | None = None,
    limit: int = PAGE_SIZE,
) -> MailThreadListOut:
    access = open_org(request, slug, "member")
    mailbox = readable_mailbox(access, mailbox_id)
    page = thread_page(
        access,
        mailbox,
        browsable_folder(mailbox, folder),
        after=Cursor.decode(after),
        before=Cursor.decode(before),
        limit=max(1, min(limit, 200)),
    )
    return MailThreadListOut(
        threads=[_summary_out(row) for row in page.rows],
        older=page.older.encode() if page.older else None,
        newer=page.newer.encode() if page.newer else None,
    )


def _message_out(view: MessageView) -> MailMessageOut:
    message = view.message
    body = getattr(message, "body", None)
    safe = sanitize_html(body.html) if body is not None and body.html else None
    return MailMessageOut(
        id=message.pk,
        subject=message.subject,
        from_name=message.from_name,
        from_address=message.from_address,
        to=message.to,
        cc=message.cc,
        date=message.date,
        text=body.text if body is not None else "",
        html=safe.html if safe else "",
        blocked_images=safe.blocked_images if safe else 0,
        parse_error=message.parse_error,
        mailboxes=[mailbox.pk for mailbox in view.mailboxes],
        attachments=[
            MailAttachmentOut(
                id=a.pk,
                filename=a.filename,
                content_type=a.content_type,
                size=a.size,
                inline=a.disposition == "inline",
            )
            for a in message.attachments.all()
        ],
    )


@router.get(
    "/orgs/{slug}/mail/threads/{thread_id}",
    response=responses({200: MailThreadOut}, forbidden=False),
    summary="A conversation with its messages in the mailboxes you may read",
)
def get_mail_thread(request: HttpRequest, slug: str, thread_id: int) -> MailThreadOut:
    access = open_org(request, slug, "member")
    thread = readable_thread(access, thread_id)
    return MailThreadOut(
        id=thread.pk,
        subject=thread.subject,
        unread=is_unread(access, thread),
        messages=[_message_out(view) for view in thread_messages(access, thread)],
    )


class MailThreadStateOut(Schema):
    id: int
    unread: bool


@router.post(
    "/orgs/{slug}/mail/threads/{thread_id}/read",
    response=responses({200: MailThreadStateOut}, forbidden=False),
    summary="Mark a conversation read (for you) up to its latest message",
)
def mark_mail_thread_read(request: HttpRequest, slug: str, thread_id: int) -> MailThreadStateOut:
    return _change_read_state(request, slug, thread_id, mark_read)


@router.post(
    "/orgs/{slug}/mail/threads/{thread_id}/unread",
    response=responses({200: MailThreadStateOut}, forbidden=False),
    summary="Mark a conversation unread (for you)",
)
def mark_mail_thread_unread(request: HttpRequest, slug: str, thread_id: int) -> MailThreadStateOut:
    return _change_read_state(request, slug, thread_id, mark_unread)


def _change_read_state(
    request: HttpRequest, slug: str, thread_id: int, change: Callable[[OrgAccess, Thread], None]
) -> MailThreadStateOut:
    access = open_org(request, slug, "member")
    thread = readable_thread(access, thread_id)
    change(access, thread)
    return MailThreadStateOut(id=thread.pk, unread=is_unread(access, thread))


@router.get(
    "/orgs/{slug}/mail/attachments/{attachment_id}",
    response={200: bytes, 401: ErrorOut, 404: ErrorOut},
    summary="Download an attachment",
    openapi_extra={
        "responses": {
            200: {
                "description": "The attachment's bytes, always as a download",
                "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
            }
        }
    },
)
def download_mail_attachment(request: HttpRequest, slug: str, attachment_id: int) -> StreamingHttpResponse:
    access = open_org(request, slug, "member")
    return attachment_download(readable_attachment(access, attachment_id))


def _hit_out(message: Message) -> MailSearchHitOut:
    return MailSearchHitOut(
        id=message.pk,
        thread_id=message.thread_id,
        subject=message.subject,
        from_name=message.from_name,
        from_address=message.from_address,
        date=message.date,
        snippet=message.snippet,
    )


@router.get(
    "/orgs/{slug}/mail/search",
    response=responses({200: MailSearchOut}, forbidden=False),
    summary="Search subject, sender and text in the mailboxes you may read",
)
def search_mail(
    request: HttpRequest, slug: str, q: str = "", before: str | None = None, limit: int = PAGE_SIZE
) -> MailSearchOut:
    """Newest first by the message's date."""
    access = open_org(request, slug, "member")
    mailboxes = visible_mailboxes(access)
    page = search(access.organization, mailboxes, q, Cursor.decode(before), max(1, min(limit, 200)))
    return MailSearchOut(
        results=[_hit_out(m) for m in page.messages], older=page.older.encode() if page.older else None
    )
