"""Parsing real-world message bytes: encoded headers, charsets, attachments, reports, malformations."""

from __future__ import annotations

from pathlib import Path

import pytest

from postroom.messages.mime import find_part
from postroom.messages.parse import decode_part, parse, sanitize_filename
from tests.mailbuilder import build

EML = Path(__file__).parent / "eml"


def eml(name: str) -> bytes:
    return (EML / name).read_bytes()


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (b"Subject: =?utf-8?B?R3LDvMOfZSBhdXMgS8O2bG4=?=", "Grüße aus Köln"),
        (b"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe_aus_K=C3=B6ln?=", "Grüße aus Köln"),
        (b"Subject: =?iso-8859-1?q?R=E9union_=E0_Gen=E8ve?=", "Réunion à Genève"),
        (
            b"Subject: Re: =?iso-8859-1?q?caf=E9?= and =?utf-8?b?0J/RgNC40LLQtdGC?= ok",
            "Re: café and Привет ok",
        ),
        # Adjacent words: the whitespace between them is not part of the text (RFC 2047 section 6.2).
        (b"Subject: =?utf-8?q?one?=\r\n =?utf-8?q?_two?=", "one two"),
        # A multi-byte character split across two encoded words survives.
        (b"Subject: =?utf-8?b?w6k=?= =?utf-8?b?w6k=?=", "éé"),
        (b"Subject: =?koi8-r?b?8NLJ18XU?=", "Привет"),
        (b"Subject: =?shift_jis?b?k/qWe4zq?=", "日本語"),
    ],
)
def test_rfc2047_subjects_are_decoded(header: bytes, expected: str) -> None:
    parsed = parse(build(subject=None, raw_headers=[header]))

    assert parsed.subject == expected
    assert parsed.problems == []


def test_raw_utf8_headers_are_accepted_without_a_flag() -> None:
    parsed = parse(eml("utf8_headers.eml"))

    assert parsed.subject == "Grüße aus Zürich ✓"
    assert parsed.from_name == "Jörg Zürich"
    assert parsed.parse_error == ""


def test_raw_8bit_latin1_headers_are_decoded_and_flagged() -> None:
    parsed = parse(eml("eight_bit_headers.eml"))

    assert parsed.subject == "Réunion café"
    assert parsed.from_name == "René François"
    assert "8-bit" in parsed.parse_error


@pytest.mark.parametrize(
    ("charset", "body"),
    [
        ("iso-8859-1", "Voilà le résumé, ça va?\n"),
        ("windows-1252", "He said “thanks” – that’s €5.\n"),
        ("koi8-r", "Здравствуйте, где мой заказ?\n"),
        ("shift_jis", "ご注文ありがとうございます。\n"),
        ("utf-8", "Grüße 👋\n"),
    ],
)
def test_bodies_in_declared_charsets_are_decoded(charset: str, body: str) -> None:
    parsed = parse(build(body=body, charset=charset))

    assert parsed.text == body
    assert parsed.parse_error == ""


def test_iso_8859_1_label_on_windows_1252_bytes_is_read_as_windows_1252() -> None:
    parsed = parse(eml("windows_1252_as_latin1.eml"))

    assert parsed.text == "He said “thanks” – that’s all €5.\n"


def test_lying_charset_falls_back_and_is_flagged() -> None:
    parsed = parse(eml("lying_charset.eml"))

    assert parsed.text == "Bonjour, voilà le résumé de la réunion.\n"
    assert "not valid utf-8" in parsed.parse_error


def test_unknown_charset_falls_back_and_is_flagged() -> None:
    parsed = parse(eml("unknown_charset.eml"))

    assert parsed.subject == "tlhIngan Hol"
    assert parsed.text == "Qapla' means success.\n"
    assert "unknown charset 'x-klingon'" in parsed.parse_error


def test_html_only_message_gets_a_snippet_from_its_visible_text() -> None:
    raw = build(body="", html="<style>p{color:red}</style><p>Hello &amp; welcome</p>")
    parsed = parse(raw)

    assert parsed.html.startswith("<style>")
    assert parsed.snippet == "Hello & welcome"


def test_multipart_report_is_detected_as_a_delivery_report() -> None:
    parsed = parse(eml("delivery_report.eml"))

    assert parsed.is_delivery_report
    assert parsed.return_path == "<>"
    assert parsed.auto_submitted == "auto-replied"
    assert parsed.text.startswith("This is the mail system")


def test_ordinary_mail_is_not_a_delivery_report() -> None:
    assert not parse(build()).is_delivery_report


def test_attachment_filenames_in_rfc2231_and_rfc2047_are_decoded() -> None:
    raw = build(attachments=[("Résumé – 2026.pdf", "application/pdf", b"%PDF-1.4 data")])
    parsed = parse(raw)

    assert [(a.filename, a.content_type, a.disposition, a.size) for a in parsed.attachments] == [
        ("Résumé – 2026.pdf", "application/pdf", "attachment", len(b"%PDF-1.4 data"))
    ]
    assert parsed.has_attachments


def test_inline_cid_image_is_an_inline_attachment_and_not_a_paperclip() -> None:
    parsed = parse(eml("inline_only.eml"))

    assert not parsed.has_attachments
    image = parsed.attachments[0]
    assert (image.disposition, image.content_id, image.part_path) == (
        "inline",
        "image001.png@01da1234.abcdef00",
        "1.2",
    )


def test_attachment_bytes_can_be_extracted_by_part_path() -> None:
    data = bytes(range(256)) * 40
    raw = build(attachments=[("blob.bin", "application/octet-stream", data)])
    path = parse(raw).attachments[0].part_path
    part = find_part(raw, path)

    assert part is not None
    problems: list[str] = []
    assert decode_part(part, problems) == data
    assert problems == []


def test_estimated_base64_size_matches_the_decoded_size() -> None:
    for length in (0, 1, 2, 3, 57, 1000, 54321):
        raw = build(attachments=[("f.bin", "application/octet-stream", b"x" * length)])
        assert parse(raw).attachments[0].size == length


@pytest.mark.parametrize(
    ("name", "safe"),
    [
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\x\\evil.exe", "evil.exe"),
        ("a\x00b\r\n.txt", "a_b__.txt"),
        (".htaccess", "htaccess"),
        ("", "attachment"),
        ("x" * 300 + ".pdf", "x" * 255),
    ],
)
def test_attachment_filenames_are_sanitized(name: str, safe: str) -> None:
    assert sanitize_filename(name) == safe


def test_message_ids_are_normalised_and_references_listed() -> None:
    raw = build(
        message_id="<  Mixed.Case@Example.COM >",
        in_reply_to="<Parent@Example.com> (sent by Outlook)",
        references=["<root@example.com>", "<Parent@Example.com>", "<root@example.com>"],
    )
    parsed = parse(raw)

    assert parsed.message_id == "mixed.case@example.com"
    assert parsed.in_reply_to == "parent@example.com"
    assert parsed.references == ["root@example.com", "parent@example.com"]


def test_absurdly_long_message_id_is_shortened_deterministically() -> None:
    long_id = "<" + "a" * 600 + "@example.com>"
    first, second = parse(build(message_id=long_id)), parse(build(message_id=long_id))

    assert len(first.message_id) <= 255
    assert first.message_id == second.message_id


def test_a_long_folded_subject_is_kept_whole_without_a_flag() -> None:
    parsed = parse(eml("long_subject_folded.eml"))

    assert parsed.subject == (("été " * 10) * 67).rstrip()
    assert parsed.parse_error == ""


@pytest.mark.parametrize(
    ("name", "flag"),
    [
        ("wrong_boundary.eml", "start boundary not found"),
        ("unclosed_boundary.eml", "close boundary not found"),
        ("invalid_base64.eml", "invalid base64"),
        ("no_headers.eml", "no headers"),
        ("nul_bytes.eml", "NUL bytes"),
        ("long_subject.eml", "longer than 998"),
    ],
)
def test_malformations_are_named_in_the_parse_error(name: str, flag: str) -> None:
    assert flag in parse(eml(name)).parse_error


def test_text_of_a_message_with_a_wrong_boundary_is_kept() -> None:
    assert "The text that the broken mailer meant to send." in parse(eml("wrong_boundary.eml")).text


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"\r\n\r\n",
        b"Subject: only a header",
        b"Content-Type: multipart/mixed\r\n\r\nno boundary parameter",
        b"Content-Type: multipart/mixed; boundary=x\r\n\r\n"
        + b"--x\r\nContent-Type: multipart/mixed; boundary=x\r\n\r\n" * 50,
        b"Subject: =?utf-8?b?!!!?= =?utf-8?q?=ZZ?=\r\nDate: 99 Foo 99999 99:99\r\n\r\nbody",
        b"\xff\xfe\x00\x00" * 1000,
    ],
)
def test_parse_never_raises(raw: bytes) -> None:
    parsed = parse(raw)

    assert parsed.size == len(raw)
    assert len(parsed.content_hash) == 64
