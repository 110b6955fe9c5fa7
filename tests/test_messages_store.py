"""Storing messages: identity (one row per message per organization), raw kept, faults flagged."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from postroom.messages.models import Attachment, Message, MessageBody, MessageRaw, Thread
from postroom.messages.store import reparse, store_message, store_messages
from tests.conftest import Cast
from tests.mailbuilder import NO_ID, build, with_trace

EML = Path(__file__).parent / "eml"
MALFORMED = [
    "wrong_boundary.eml",
    "unclosed_boundary.eml",
    "invalid_base64.eml",
    "unknown_charset.eml",
    "lying_charset.eml",
    "eight_bit_headers.eml",
    "no_headers.eml",
    "long_subject.eml",
    "nul_bytes.eml",
]


def eml(name: str) -> bytes:
    return (EML / name).read_bytes()


@pytest.mark.parametrize("name", MALFORMED)
def test_malformed_message_is_stored_raw_and_flagged_while_the_batch_goes_on(cast: Cast, name: str) -> None:
    before, after = build(subject="Before"), build(subject="After")
    results = store_messages(cast.acme, [before, eml(name), after])

    assert [r.created for r in results] == [True, True, True]
    bad = Message.objects.get(pk=results[1].message_id)
    assert bad.parse_error != ""
    assert results[1].parse_error == bad.parse_error
    assert bytes(MessageRaw.objects.get(message=bad).data) == eml(name)
    assert results[0].parse_error == results[2].parse_error == ""
    assert Message.objects.get(pk=results[2].message_id).subject == "After"


def test_what_could_be_parsed_is_kept_from_a_malformed_message(cast: Cast) -> None:
    stored = store_message(cast.acme, eml("unclosed_boundary.eml"))

    message = Message.objects.get(pk=stored.message_id)
    assert message.subject == "Cut off in transit"
    assert message.from_address == "truncated@example.com"
    assert "close boundary" in message.parse_error
    assert MessageBody.objects.get(message=message).text == "First part survives."


def test_nul_bytes_never_reach_the_database(cast: Cast) -> None:
    stored = store_message(cast.acme, eml("nul_bytes.eml"))

    message = Message.objects.get(pk=stored.message_id)
    assert "\x00" not in message.subject and message.subject.startswith("Has a NUL")
    assert "\x00" not in MessageBody.objects.get(message=message).text


def test_same_message_twice_is_one_row(cast: Cast) -> None:
    raw = build(subject="Once")
    first = store_message(cast.acme, raw)
    second = store_message(cast.acme, raw)

    assert first.created and not second.created
    assert second.message_id == first.message_id and second.thread_id == first.thread_id
    assert Message.objects.filter(organization=cast.acme).count() == 1


def test_same_message_in_two_mailboxes_with_different_trace_headers_is_one_row(cast: Cast) -> None:
    raw = build(subject="To both support and sales", to="support@acme.example, sales@acme.example")
    results = store_messages(
        cast.acme, [with_trace(raw, "support@acme.example", 1), with_trace(raw, "sales@acme.example", 2)]
    )

    assert results[0].message_id == results[1].message_id
    assert [r.created for r in results] == [True, False]
    assert Message.objects.filter(organization=cast.acme).count() == 1


def test_reused_message_id_with_different_content_is_two_rows(cast: Cast) -> None:
    results = store_messages(
        cast.acme,
        [
            build(message_id="<reused@broken.example>", body="First newsletter"),
            build(message_id="<reused@broken.example>", body="Second newsletter"),
        ],
    )

    assert results[0].message_id != results[1].message_id
    assert all(r.created for r in results)
    assert set(Message.objects.values_list("message_id", flat=True)) == {"reused@broken.example"}


def test_message_without_message_id_twice_is_one_row(cast: Cast) -> None:
    raw = build(message_id=NO_ID, subject="Anonymous")
    first = store_message(cast.acme, raw)
    second = store_message(cast.acme, with_trace(raw, "support@acme.example"))

    assert second.message_id == first.message_id and not second.created
    assert Message.objects.get(pk=first.message_id).message_id == ""


def test_messages_without_message_id_but_different_content_are_two_rows(cast: Cast) -> None:
    results = store_messages(
        cast.acme, [build(message_id=NO_ID, body="one"), build(message_id=NO_ID, body="two")]
    )

    assert results[0].message_id != results[1].message_id


def test_same_message_in_two_organizations_is_two_rows_in_two_threads(cast: Cast) -> None:
    raw = build(subject="Shared newsletter")
    in_acme = store_message(cast.acme, raw)
    in_globex = store_message(cast.globex, raw)

    assert in_acme.created and in_globex.created
    assert in_acme.message_id != in_globex.message_id
    assert in_acme.thread_id != in_globex.thread_id
    assert Thread.objects.get(pk=in_globex.thread_id).organization == cast.globex
    assert Message.objects.get(pk=in_globex.message_id).organization == cast.globex


def test_store_messages_twice_is_a_no_op_the_second_time(cast: Cast) -> None:
    parent = build(message_id="<p@x.example>")
    batch = [
        parent,
        build(in_reply_to="<p@x.example>", references=["<p@x.example>"]),
        eml("invalid_base64.eml"),
        eml("inline_cid.eml"),
    ]
    first = store_messages(cast.acme, batch)
    counts = (Message.objects.count(), Thread.objects.count(), Attachment.objects.count())
    second = store_messages(cast.acme, batch)

    assert [r.message_id for r in second] == [r.message_id for r in first]
    assert [r.thread_id for r in second] == [r.thread_id for r in first]
    assert not any(r.created for r in second)
    assert (Message.objects.count(), Thread.objects.count(), Attachment.objects.count()) == counts
    assert Thread.objects.get(pk=first[0].thread_id).message_count == 2


def test_duplicates_inside_one_batch_return_the_same_row(cast: Cast) -> None:
    raw = build()
    results = store_messages(cast.acme, [raw, raw])

    assert results[0].message_id == results[1].message_id
    assert [r.created for r in results] == [True, False]


def test_results_come_back_in_input_order(cast: Cast) -> None:
    old = build(subject="stored earlier")
    store_message(cast.acme, old)
    batch = [build(subject="new one"), old, build(subject="new two")]
    results = store_messages(cast.acme, batch)

    subjects = [Message.objects.get(pk=r.message_id).subject for r in results]
    assert subjects == ["new one", "stored earlier", "new two"]
    assert [r.created for r in results] == [True, False, True]


def test_parsed_fields_are_stored(cast: Cast) -> None:
    raw = build(
        subject="Question",
        sender='"Doe, Jane" <Jane.Doe@Example.ORG>',
        to="Support <support@acme.example>, sales@acme.example",
        message_id="<ABC.123@Example.ORG>",
        headers={
            "Cc": "=?utf-8?q?J=C3=B6rg?= <joerg@example.ch>",
            "Reply-To": "replies@example.org",
            "Auto-Submitted": "auto-replied",
            "Precedence": "Bulk",
            "List-Id": "Announcements <announce.example.org>",
            "List-Unsubscribe": "<mailto:leave@example.org>",
            "X-Autoreply": "yes",
            "X-Auto-Response-Suppress": "All",
            "Return-Path": "<>",
            "Content-Language": "de-CH",
        },
        body="Where is my order?\n",
    )
    message = Message.objects.get(pk=store_message(cast.acme, raw).message_id)

    assert message.message_id == "abc.123@example.org"
    assert (message.from_name, message.from_address) == ("Doe, Jane", "jane.doe@example.org")
    assert message.to == [["Support", "support@acme.example"], ["", "sales@acme.example"]]
    assert message.cc == [["Jörg", "joerg@example.ch"]]
    assert message.reply_to == [["", "replies@example.org"]]
    assert message.date is not None and message.date.tzinfo is not None
    assert message.auto_submitted == "auto-replied" and message.precedence == "bulk"
    assert message.list_id == "Announcements <announce.example.org>"
    assert message.list_unsubscribe and message.x_autoreply
    assert message.x_auto_response_suppress == "All"
    assert message.return_path == "<>"
    assert message.content_language == "de-CH"
    assert message.snippet == "Where is my order?"
    assert message.size == len(raw)


def test_unparsable_date_is_stored_as_null(cast: Cast) -> None:
    raw = build(headers={"X-Placeholder": "1"}).replace(b"Date: ", b"Date: yesterday-ish ", 1)
    message = Message.objects.get(pk=store_message(cast.acme, raw).message_id)

    assert message.date is None


def test_attachments_are_described_not_copied(cast: Cast) -> None:
    message = Message.objects.get(pk=store_message(cast.acme, eml("inline_cid.eml")).message_id)

    rows = list(
        message.attachments.values_list("filename", "content_type", "disposition", "content_id", "part_path")
    )
    assert rows == [
        ("image001.png", "image/png", "inline", "image001.png@01da1234.abcdef00", "1.2"),
        ("Rechnung März 2026.pdf", "application/pdf", "attachment", "", "2"),
        (
            "Angebot für Kunde.docx",
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "attachment",
            "",
            "3",
        ),
        ("passwd", "text/plain", "attachment", "", "4"),
    ]
    assert message.has_attachments
    assert message.from_name == "Renée Müller"
    assert "Grüße" in MessageBody.objects.get(message=message).html


def test_reparse_refreshes_parsed_fields_from_the_raw_bytes(cast: Cast) -> None:
    stored = store_message(cast.acme, eml("inline_cid.eml"))
    message = Message.objects.get(pk=stored.message_id)
    Message.objects.filter(pk=message.pk).update(subject="damaged", has_attachments=False, snippet="")
    Attachment.objects.filter(message=message).delete()
    MessageBody.objects.filter(message=message).update(html="")

    reparse(Message.objects.get(pk=message.pk))

    message.refresh_from_db()
    assert message.subject == "Screenshot of the error"
    assert message.has_attachments and message.attachments.count() == 4
    assert "Grüße" in MessageBody.objects.get(message=message).html
    assert message.thread_id == stored.thread_id


def test_mangled_mail_of_every_shape_is_stored_without_an_exception(cast: Cast) -> None:
    rng = random.Random(2026)
    batch: list[bytes] = []
    for path in sorted(EML.glob("*.eml")):
        raw = path.read_bytes()
        for _ in range(4):
            cut = rng.randrange(len(raw))
            noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 40)))
            batch += [raw[:cut], raw[:cut] + noise + raw[cut:]]

    results = store_messages(cast.acme, batch)

    assert len(results) == len(batch)
    assert {r.message_id for r in results} == set(Message.objects.values_list("pk", flat=True))
    assert MessageRaw.objects.count() == Message.objects.count()
