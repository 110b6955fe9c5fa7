"""Building a reply cheaply must not change what it says: the facts handed to the outbox match what a
reader parses from the bytes, and compiled templates are reused without going stale."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message as MimeMessage
from email.mime.multipart import MIMEMultipart
from email.policy import default
from email.utils import getaddresses

import pytest
from hypothesis import given
from hypothesis import strategies as st

from postroom.autoresponse import reply as reply_module
from postroom.autoresponse.models import TemplateType
from postroom.autoresponse.rendering import MAX_RANGE, RenderFailed, render
from postroom.autoresponse.reply import MAX_REFERENCES, build_reply, wire_bytes
from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message


@pytest.mark.parametrize(
    "subject",
    ["Re: your order", "Réponse : votre commande №42 " * 4, "=?utf-8?q?looks_encoded?= but typed"],
)
def test_reply_facts_match_what_a_reader_parses(subject: str) -> None:
    parent = Message(message_id="q1@example.org", references=["q0@example.org"])
    mailbox = Mailbox(label="Équipe support", email="support@example.org")

    reply = build_reply(
        parent,
        mailbox,
        "ann@example.org",
        subject=subject,
        content="Bonjour,\nmerci.",
        kind=TemplateType.TEXT,
        language="fr",
        now=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
    )

    headers = message_from_bytes(reply.raw, policy=default)
    assert str(headers["Message-ID"]) == reply.message_id
    assert str(headers["Subject"]) == reply.subject
    assert headers["References"] == "<q0@example.org> <q1@example.org>"


LONG_LINE = "<p>" + "word " * 400 + "</p>"  # one-line HTML, as editors save it: 2,000 characters


@pytest.mark.parametrize(
    ("label", "kind", "content"),
    [
        ("Support", TemplateType.TEXT, "Hello,\nthanks."),
        ('Acme, Inc. "Support"', TemplateType.TEXT, "Grüße,\n" + "ü" * 300),
        ("Équipe support", TemplateType.HTML, "<p>Merci, à bientôt</p>"),
        ("Support", TemplateType.HTML, LONG_LINE),
        ("Support", TemplateType.TEXT, "x" * 2000),
    ],
)
def test_reply_reads_back_as_written_in_lines_smtp_accepts(label: str, kind: str, content: str) -> None:
    parent = Message(message_id="q1@example.org", references=[f"r{i}@example.org" for i in range(60)])
    mailbox = Mailbox(label=label, email="support@example.org")

    reply = build_reply(
        parent,
        mailbox,
        "ann@example.org",
        subject="Réponse " * 20,
        content=content,
        kind=kind,
        language="",
        now=datetime(2026, 1, 2, 3, 4, tzinfo=UTC),
    )

    lines = reply.raw.split(b"\r\n")
    assert max(map(len, lines)) <= 78 and b"\n" not in reply.raw.replace(b"\r\n", b"")
    headers = message_from_bytes(reply.raw, policy=default)
    assert getaddresses([str(headers["From"])]) == [(label, "support@example.org")]
    assert str(headers["Subject"]) == reply.subject == ("Réponse " * 20).strip()
    assert len(headers["References"].split()) == MAX_REFERENCES
    body = headers.get_body(("html",) if kind == TemplateType.HTML else ("plain",))
    assert body is not None and body.get_content().replace("\r\n", "\n").strip() == content.strip()


def test_an_edited_template_renders_its_new_text() -> None:
    context = {"name": "Ann"}

    assert render("Hello {{ name }}", context) == "Hello Ann"
    assert render("Hello {{ name }}", context) == "Hello Ann"
    assert render("Goodbye {{ name }}", context) == "Goodbye Ann"


def test_the_same_source_is_escaped_only_as_html() -> None:
    context = {"name": "<b>Ann</b>"}

    assert render("{{ name }}", context, TemplateType.TEXT) == "<b>Ann</b>"
    assert render("{{ name }}", context, TemplateType.HTML) == "&lt;b&gt;Ann&lt;/b&gt;"


def test_a_template_over_a_bound_fails_every_time() -> None:
    source = f"{{% for i in range({MAX_RANGE + 1}) %}}x{{% endfor %}}"
    nested = "{% for a in [1] %}{% for b in [1] %}{% for c in [1] %}x{% endfor %}{% endfor %}{% endfor %}"

    for _ in range(2):
        with pytest.raises(RenderFailed, match="range"):
            render(source, {})
        with pytest.raises(RenderFailed, match="nested"):
            render(nested, {})


# Header values near the fast path's edges: runs of spaces, tabs, leading or trailing blanks, encoded-word
# look-alikes, characters beyond ASCII, and lengths on both sides of a fold.
HEADER_TEXT = st.text(alphabet=st.sampled_from([*'ab =?:;<>@,"\t', "é", "日"]), max_size=90)


@given(
    values=st.lists(st.one_of(HEADER_TEXT, st.text(alphabet="xyz ", min_size=60, max_size=80)), max_size=6),
    html=st.booleans(),
)
def test_the_wire_generator_writes_exactly_what_the_classic_api_writes(values: list[str], html: bool) -> None:
    """`wire_bytes` writes short plain headers itself; every byte must be what `as_bytes` gives."""
    built: MimeMessage
    if html:
        built = MIMEMultipart("alternative", _subparts=[reply_module._text("plain")])
        built.attach(reply_module._text("<p>html</p>", "html"))
    else:
        built = reply_module._text("body")
    for index, value in enumerate(values):
        built[f"X-Test-{index}"] = value
        reply_module._set(built, f"X-Header-{index}", reply_module._header("Subject", value))

    assert wire_bytes(built) == built.as_bytes(policy=reply_module._WIRE)
