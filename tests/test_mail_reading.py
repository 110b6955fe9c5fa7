"""Reading mail in the browser and over the API: mailboxes with unread counts, keyset-paged thread lists,
the thread page (bodies, attachments, processing outcome, lead or case), downloads, and mailbox access."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.urls import reverse

from postroom.crm.models import Case
from postroom.mailboxes.models import Mailbox
from postroom.messages.download import safe_content_type, safe_filename
from postroom.messages.models import Message, Thread
from postroom.messages.reading import mailbox_summaries, thread_page, unread_count
from postroom.messages.store import store_message
from postroom.organizations.access import org_access
from postroom.outbox.models import Kind, OutgoingMessage
from postroom.outbox.send import enqueue
from tests.api_helpers import as_user
from tests.compose_helpers import received, sending_mailbox
from tests.conftest import Cast
from tests.mailbuilder import build, reply_to
from tests.processing_helpers import arrive, case_mailbox, process
from tests.web_support import client_for


def _support(cast: Cast, label: str = "Support") -> Mailbox:
    """A mailbox the Support role (cast.member) may read; cast.loner may not."""
    return sending_mailbox(cast.acme, (cast.support_role,), label=label)


def _url(cast: Cast, name: str, *args: Any) -> str:
    return reverse(name, args=[cast.acme.slug, *args])


# --- Unread state ------------------------------------------------------------------------------------


def test_unread_counts_follow_opening_replies_and_mark_unread(cast: Cast) -> None:
    mailbox = _support(cast)
    first = build(subject="Order 1")
    arrive(mailbox, [first, build(subject="Order 2"), build(subject="Order 3")])
    access = org_access(cast.member, "acme")
    assert unread_count(access, mailbox) == 3

    thread_id = Message.objects.get(subject="Order 1").thread_id
    client = client_for(cast.member)
    assert client.get(_url(cast, "mail-thread", thread_id)).status_code == 200
    assert unread_count(access, mailbox) == 2
    # Read state is per member: the admin still has all three unread.
    assert unread_count(org_access(cast.org_admin, "acme"), mailbox) == 3

    arrive(mailbox, [reply_to(first)])
    assert unread_count(access, mailbox) == 3, "a new reply makes the conversation unread again"

    client.get(_url(cast, "mail-thread", thread_id))
    response = client.post(_url(cast, "mail-thread-unread", thread_id), {"mailbox": mailbox.pk})
    assert response.status_code == 302
    assert response["Location"] == _url(cast, "mail-mailbox", mailbox.pk)
    assert unread_count(access, mailbox) == 3


def test_api_marks_a_conversation_read_and_unread_for_the_caller_only(cast: Cast) -> None:
    mailbox = _support(cast)
    first = build(subject="Order 1")
    arrive(mailbox, [first, build(subject="Order 2")])
    thread_id = Message.objects.get(subject="Order 1").thread_id
    access = org_access(cast.member, "acme")

    read = as_user(cast.member, "POST", f"/orgs/acme/mail/threads/{thread_id}/read")
    assert read.status_code == 200
    assert read.json() == {"id": thread_id, "unread": False}
    assert unread_count(access, mailbox) == 1
    assert as_user(cast.member, "GET", f"/orgs/acme/mail/threads/{thread_id}").json()["unread"] is False
    assert unread_count(org_access(cast.org_admin, "acme"), mailbox) == 2, "read state is per member"

    arrive(mailbox, [reply_to(first)])
    assert unread_count(access, mailbox) == 2, "a reply after the mark makes it unread again"
    as_user(cast.member, "POST", f"/orgs/acme/mail/threads/{thread_id}/read")
    assert unread_count(access, mailbox) == 1

    unread = as_user(cast.member, "POST", f"/orgs/acme/mail/threads/{thread_id}/unread")
    assert unread.json() == {"id": thread_id, "unread": True}
    assert unread_count(access, mailbox) == 2


def test_mailbox_list_shows_only_granted_mailboxes_with_their_counts(cast: Cast) -> None:
    support = _support(cast)
    secret = sending_mailbox(cast.acme, (), label="Board")
    arrive(support, [build(subject="Hello support")])
    arrive(secret, [build(subject="Merger plans"), build(subject="Layoffs")])

    summaries = mailbox_summaries(org_access(cast.member, "acme"))
    assert [(s.mailbox.label, s.unread) for s in summaries] == [("Support", 1)]
    page = client_for(cast.member).get(_url(cast, "mail")).content.decode()
    assert "Support" in page and "Board" not in page

    admin_view = {s.mailbox.label: s.unread for s in mailbox_summaries(org_access(cast.org_admin, "acme"))}
    assert admin_view == {"Board": 2, "Support": 1}
    assert mailbox_summaries(org_access(cast.loner, "acme")) == []


# --- Thread lists --------------------------------------------------------------------------------------


def test_keyset_pages_walk_every_thread_once_even_with_equal_timestamps(cast: Cast) -> None:
    mailbox = _support(cast)
    arrive(mailbox, [build(subject=f"Thread {n}") for n in range(7)])
    same_moment = datetime(2026, 3, 2, 12, 0, tzinfo=UTC)
    Thread.objects.filter(organization=cast.acme).update(last_message_at=same_moment)
    access = org_access(cast.member, "acme")
    expected = list(Thread.objects.order_by("-pk").values_list("pk", flat=True))

    seen: list[int] = []
    pages = [thread_page(access, mailbox, limit=3)]
    while pages[-1].older is not None:
        pages.append(thread_page(access, mailbox, after=pages[-1].older, limit=3))
    for page in pages:
        seen += [row.thread.pk for row in page.rows]
    assert seen == expected
    assert [len(page.rows) for page in pages] == [3, 3, 1]
    assert pages[0].newer is None and pages[-1].newer is not None

    back = thread_page(access, mailbox, before=pages[-1].newer, limit=3)
    assert [row.thread.pk for row in back.rows] == expected[3:6]
    assert back.newer is not None and back.older is not None


def test_thread_list_rows_show_the_latest_message_in_the_mailbox(cast: Cast) -> None:
    mailbox = _support(cast)
    parent = build(subject="Invoice", body="Please pay.\n")
    arrive(mailbox, [parent])
    arrive(mailbox, [reply_to(parent, sender="Bob <bob@example.net>", body="Paid it today.\n")])
    arrive(mailbox, [build(subject="Photos", attachments=[("cat.png", "image/png", b"\x89PNG....")])])
    page = thread_page(org_access(cast.member, "acme"), mailbox)

    photos, invoice = page.rows
    assert (invoice.sender, invoice.message_count, invoice.has_attachments) == ("Bob", 2, False)
    assert invoice.snippet.startswith("Paid it today")
    assert (photos.subject, photos.has_attachments, photos.unread) == ("Photos", True, True)

    html = client_for(cast.member).get(_url(cast, "mail-mailbox", mailbox.pk)).content.decode()
    assert (
        "Paid it today" in html and "Has attachments" in html and html.index("Photos") < html.index("Invoice")
    )


def test_folder_filter_and_htmx_partial(cast: Cast) -> None:
    mailbox = _support(cast)
    arrive(mailbox, [build(subject="In the inbox")])
    arrive(mailbox, [build(subject="Filed away")], folder="Archive", kind="archive")
    archive = mailbox.folders.get(name="Archive")
    archive.selected = True
    archive.save()
    client = client_for(cast.member)

    page = client.get(
        _url(cast, "mail-mailbox", mailbox.pk) + f"?folder={archive.pk}", headers={"HX-Request": "true"}
    )
    html = page.content.decode()
    assert "Filed away" in html and "In the inbox" not in html
    assert "<html" not in html, "htmx asks for the thread list alone"
    other = sending_mailbox(cast.acme, (cast.support_role,), label="Other")
    arrive(other, [build()], folder="Mine")
    foreign_folder = other.folders.get(name="Mine")
    assert (
        client.get(_url(cast, "mail-mailbox", mailbox.pk) + f"?folder={foreign_folder.pk}").status_code == 404
    )


# --- The thread page -----------------------------------------------------------------------------------


def test_thread_page_shows_plain_text_escaped_and_linkified_with_attachments(cast: Cast) -> None:
    mailbox = _support(cast)
    message = received(
        mailbox,
        subject="Report",
        body="See https://example.org/report and <b>not bold</b>\n",
        attachments=[("report.pdf", "application/pdf", b"%PDF-1.4 fake")],
    )
    html = client_for(cast.member).get(_url(cast, "mail-thread", message.thread_id)).content.decode()
    assert '<a href="https://example.org/report"' in html
    assert "&lt;b&gt;not bold&lt;/b&gt;" in html and "<b>not bold</b>" not in html
    attachment = message.attachments.get()
    assert _url(cast, "mail-attachment", attachment.pk) in html
    assert _url(cast, "mail-raw", message.pk) in html


def test_thread_page_shows_message_dates_like_the_delivery_line(cast: Cast) -> None:
    mailbox = _support(cast)
    arrive(mailbox, [build(subject="Dated", date=datetime(2026, 11, 24, 1, 10, tzinfo=UTC))])
    thread_id = Message.objects.get(subject="Dated").thread_id
    html = client_for(cast.member).get(_url(cast, "mail-thread", thread_id)).content.decode()
    assert '<time datetime="2026-11-24T01:10:00+00:00">2026-11-24 01:10</time>' in html
    assert "Nov. 24, 2026" not in html


def test_thread_page_shows_the_case_and_why_no_auto_reply_was_sent(cast: Cast) -> None:
    mailbox = case_mailbox(cast.acme, cast.org_admin)
    mailbox.access_roles.set([cast.support_role])
    [message] = arrive(mailbox, [build(subject="Broken printer")])
    process()
    html = client_for(cast.member).get(_url(cast, "mail-thread", message.thread_id)).content.decode()
    case = Case.objects.get(message=message)
    assert f'<a href="{_url(cast, "case-detail", case.pk)}">{case.reference}</a>' in html
    assert "Conversion: created a record" in html
    assert "No auto-reply:" in html


def test_a_thread_shows_only_messages_of_mailboxes_the_member_may_read(cast: Cast) -> None:
    support = _support(cast)
    board = sending_mailbox(cast.acme, (), label="Board")
    parent = build(subject="Budget", body="Visible part\n")
    arrive(support, [parent])
    arrive(board, [reply_to(parent, body="Confidential answer\n")])
    thread_id = Message.objects.get(subject="Budget").thread_id

    member_view = client_for(cast.member).get(_url(cast, "mail-thread", thread_id)).content.decode()
    assert "Visible part" in member_view and "Confidential answer" not in member_view
    admin_view = client_for(cast.org_admin).get(_url(cast, "mail-thread", thread_id)).content.decode()
    assert "Confidential answer" in admin_view
    api = as_user(cast.member, "GET", f"/orgs/acme/mail/threads/{thread_id}").json()
    assert [m["text"] for m in api["messages"]] == ["Visible part\n"]


def test_a_reply_sent_from_postroom_shows_before_its_sent_copy_syncs(cast: Cast) -> None:
    mailbox = _support(cast)
    parent = build(subject="Question", body="How does it work?\n")
    [question] = arrive(mailbox, [parent])
    raw = reply_to(parent, sender=mailbox.email, body="Like this.\n")
    stored = store_message(cast.acme, raw)  # stored in the thread, but in no folder yet
    row = enqueue(mailbox, Kind.REPLY, raw, ["ann@example.org"], in_reply_to=question)
    OutgoingMessage.objects.filter(pk=row.pk).update(stored_message_id=stored.message_id)
    assert stored.thread_id == question.thread_id

    html = client_for(cast.member).get(_url(cast, "mail-thread", question.thread_id)).content.decode()
    assert "Like this." in html and "Queued" in html
    assert client_for(cast.member).get(_url(cast, "mail-raw", stored.message_id)).status_code == 200
    assert client_for(cast.loner).get(_url(cast, "mail-raw", stored.message_id)).status_code == 404


def test_parse_error_message_offers_the_raw_download(cast: Cast) -> None:
    mailbox = _support(cast)
    message = received(mailbox, subject="Odd")
    Message.objects.filter(pk=message.pk).update(parse_error="MIME: close boundary not found")
    html = client_for(cast.member).get(_url(cast, "mail-thread", message.thread_id)).content.decode()
    assert "could not be read completely" in html and _url(cast, "mail-raw", message.pk) in html


# --- Downloads -----------------------------------------------------------------------------------------


def test_attachment_download_is_a_safe_attachment_with_the_decoded_bytes(cast: Cast) -> None:
    payload = b"<html><script>alert(document.cookie)</script></html>" * 50_000  # ~2.6 MB, several chunks
    message = received(_support(cast), attachments=[('../../etc/"evil"\tname.html', "text/html", payload)])
    attachment = message.attachments.get()
    response = client_for(cast.member).get(_url(cast, "mail-attachment", attachment.pk))

    assert response.status_code == 200
    assert b"".join(response.streaming_content) == payload  # type: ignore[attr-defined]
    assert response["Content-Type"] == "application/octet-stream"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Security-Policy"] == "sandbox"
    disposition = response["Content-Disposition"]
    assert disposition.startswith("attachment; ")
    assert "/" not in disposition.split("filename*=UTF-8''")[1]
    assert "\t" not in disposition
    assert '"evil"' not in disposition


def test_raw_download_is_the_message_as_fetched(cast: Cast) -> None:
    raw = build(subject="Keep me exactly")
    [message] = arrive(_support(cast), [raw])
    response = client_for(cast.member).get(_url(cast, "mail-raw", message.pk))
    assert b"".join(response.streaming_content) == raw  # type: ignore[attr-defined]
    assert response["Content-Type"] == "message/rfc822"
    assert f"message-{message.pk}.eml" in response["Content-Disposition"]


def test_filenames_and_content_types_are_sanitized() -> None:
    assert safe_filename("..\\..\\boot.ini", "x") == "_.._boot.ini"
    assert safe_filename('a"b\x00c;d.txt', "x") == "a_b_c_d.txt"
    assert safe_filename("...", "fallback.bin") == "fallback.bin"
    assert safe_filename("é" * 300 + ".pdf", "x").endswith(".pdf")
    assert len(safe_filename("é" * 300 + ".pdf", "x")) == 150
    assert safe_content_type("text/html; charset=utf-8") == "application/octet-stream"
    assert safe_content_type("image/svg+xml") == "application/octet-stream"
    assert safe_content_type("IMAGE/PNG") == "image/png"


# --- Access ---------------------------------------------------------------------------------------------


def test_member_without_access_gets_404_for_everything_in_the_mailbox(cast: Cast) -> None:
    mailbox = _support(cast)
    message = received(mailbox, attachments=[("a.txt", "text/plain", b"secret")])
    attachment = message.attachments.get()
    client = client_for(cast.loner)
    for url in (
        _url(cast, "mail-mailbox", mailbox.pk),
        _url(cast, "mail-thread", message.thread_id),
        _url(cast, "mail-attachment", attachment.pk),
        _url(cast, "mail-raw", message.pk),
    ):
        assert client.get(url).status_code == 404, url
    assert client.post(_url(cast, "mail-thread-unread", message.thread_id)).status_code == 404
    for action in ("read", "unread"):
        path = f"/orgs/acme/mail/threads/{message.thread_id}/{action}"
        assert as_user(cast.loner, "POST", path).status_code == 404, path
    for path in (
        f"/orgs/acme/mail/mailboxes/{mailbox.pk}/threads",
        f"/orgs/acme/mail/threads/{message.thread_id}",
        f"/orgs/acme/mail/attachments/{attachment.pk}",
    ):
        assert as_user(cast.loner, "GET", path).status_code == 404, path
    assert as_user(cast.loner, "GET", "/orgs/acme/mail/mailboxes").json() == []


def test_api_lists_threads_by_cursor(cast: Cast) -> None:
    mailbox = _support(cast)
    arrive(mailbox, [build(subject=f"Subject {n}") for n in range(3)])
    path = f"/orgs/acme/mail/mailboxes/{mailbox.pk}/threads?limit=2"
    first = as_user(cast.member, "GET", path).json()
    assert [t["subject"] for t in first["threads"]] == ["Subject 2", "Subject 1"]
    assert first["newer"] is None
    second = as_user(cast.member, "GET", f"{path}&after={first['older']}").json()
    assert [t["subject"] for t in second["threads"]] == ["Subject 0"]
    assert second["older"] is None
    boxes = as_user(cast.member, "GET", "/orgs/acme/mail/mailboxes").json()
    assert boxes == [
        {"id": mailbox.pk, "label": "Support", "email": mailbox.email, "unread": 3, "unread_capped": False}
    ]
