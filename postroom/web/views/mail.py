"""Reading mail in the browser (MISSION M8): mailboxes with unread counts, a mailbox's conversations by
folder, a conversation with every message, downloads, and search.

Every view is `org_view("member")` and reaches mail only through `postroom.messages.reading` and
`readable_mailbox`, so a member without access to a mailbox gets 404 for everything in it.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import messages as flash
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST

from postroom.crm.models import Case, Lead
from postroom.mailboxes.access import readable_mailbox, visible_mailboxes
from postroom.messages.download import attachment_download, inline_image_uris, raw_download
from postroom.messages.reading import (
    Cursor,
    MessageView,
    browsable_folder,
    folders_of,
    mailbox_summaries,
    mark_read,
    mark_unread,
    readable_attachment,
    readable_message,
    readable_thread,
    thread_messages,
    thread_page,
    thread_record,
)
from postroom.messages.sanitize import email_document, sanitize_html
from postroom.messages.search import search
from postroom.organizations.access import OrgAccess
from postroom.outbox.compose import answerable_messages
from postroom.outbox.delivery import deliveries_of
from postroom.web.guards import is_htmx, org_view
from postroom.web.security import relax_csp


def _int_param(request: HttpRequest, name: str) -> int | None:
    value = request.GET.get(name, "")
    return int(value) if value.isdigit() else None


@require_GET
@org_view("member")
def mail(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    ctx = {"access": access, "summaries": mailbox_summaries(access), "menu": "mail"}
    return render(request, "postroom/mail/mailboxes.html", ctx)


@require_GET
@org_view("member")
def mailbox(request: HttpRequest, access: OrgAccess, mailbox_id: int) -> HttpResponse:
    box = readable_mailbox(access, mailbox_id)
    folder = browsable_folder(box, _int_param(request, "folder"))
    page = thread_page(
        access,
        box,
        folder,
        after=Cursor.decode(request.GET.get("after")),
        before=Cursor.decode(request.GET.get("before")),
    )
    ctx = {
        "access": access,
        "mailbox": box,
        "folders": folders_of(box),
        "folder": folder,
        "page": page,
        "menu": "mail",
    }
    template = "postroom/mail/_threads.html" if is_htmx(request) else "postroom/mail/mailbox.html"
    return render(request, template, ctx)


@dataclass(frozen=True)
class ShownMessage:
    view: MessageView
    document: str  # the sanitized HTML as a sandboxed frame's document; "" for a plain-text message
    blocked_images: int
    height: str = "short"  # the frame's CSS size class: a frame without script cannot size itself


def _shown(view: MessageView, allow_remote_images: bool) -> ShownMessage:
    body = getattr(view.message, "body", None)
    if body is None or not body.html:
        return ShownMessage(view, "", 0)
    attachments = list(view.message.attachments.all())
    cids = inline_image_uris(view.message, attachments) if "cid:" in body.html.lower() else {}
    safe = sanitize_html(body.html, allow_remote_images, cids)
    document = email_document(safe.html, allow_remote_images)
    return ShownMessage(view, document, safe.blocked_images, _frame_height(body.text or safe.html))


def _frame_height(text: str) -> str:
    if len(text) < 600 and text.count("\n") < 12:
        return "short"
    return "medium" if len(text) < 4000 else "tall"


@require_GET
@org_view("member")
def thread(request: HttpRequest, access: OrgAccess, thread_id: int) -> HttpResponse:
    """The conversation; opening it marks it read for this member."""
    conversation = readable_thread(access, thread_id)
    allow_remote = request.GET.get("images") == "remote"
    shown = [_shown(view, allow_remote) for view in thread_messages(access, conversation)]
    message_ids = [item.view.message.pk for item in shown]
    mark_read(access, conversation)
    record = thread_record(access, conversation)
    ctx = {
        "access": access,
        "thread": conversation,
        "shown": shown,
        "record": record,
        "record_url": _record_url(access, record),
        "back_mailbox": visible_mailboxes(access).filter(pk=_int_param(request, "mailbox") or 0).first(),
        "blocked_images": sum(item.blocked_images for item in shown),
        "remote_images": allow_remote,
        "menu": "mail",
        "answerable": answerable_messages(access, message_ids),
        "deliveries": deliveries_of(message_ids),
    }
    response = render(request, "postroom/mail/thread.html", ctx)
    # The sandboxed frames inherit the page's policy: let mail keep its inline styles and, when the
    # member asked, load remote images (their own policy still forbids script).
    relax_csp(response, style_src="'unsafe-inline'")
    if allow_remote:
        relax_csp(response, img_src="https: http:")
    return response


def _record_url(access: OrgAccess, record: Lead | Case | None) -> str:
    if record is None:
        return ""
    name = "lead-detail" if isinstance(record, Lead) else "case-detail"
    return reverse(name, args=[access.organization.slug, record.pk])


@require_POST
@org_view("member")
def thread_unread(request: HttpRequest, access: OrgAccess, thread_id: int) -> HttpResponse:
    """Mark the conversation unread again and go back to the mailbox it was opened from."""
    conversation = readable_thread(access, thread_id)
    mark_unread(access, conversation)
    flash.success(request, f"“{conversation}” is marked unread.")
    mailbox_id = request.POST.get("mailbox", "")
    if mailbox_id.isdigit() and visible_mailboxes(access).filter(pk=int(mailbox_id)).exists():
        return redirect("mail-mailbox", access.organization.slug, int(mailbox_id))
    return redirect("mail", access.organization.slug)


@require_GET
@org_view("member")
def attachment(request: HttpRequest, access: OrgAccess, attachment_id: int) -> StreamingHttpResponse:
    return attachment_download(readable_attachment(access, attachment_id))


@require_GET
@org_view("member")
def raw(request: HttpRequest, access: OrgAccess, message_id: int) -> StreamingHttpResponse:
    return raw_download(readable_message(access, message_id))


@require_GET
@org_view("member")
def mail_search(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    query = request.GET.get("q", "").strip()
    results = search(
        access.organization, visible_mailboxes(access), query, before=Cursor.decode(request.GET.get("before"))
    )
    ctx = {"access": access, "query": query, "results": results, "menu": "mail"}
    return render(request, "postroom/mail/search.html", ctx)
