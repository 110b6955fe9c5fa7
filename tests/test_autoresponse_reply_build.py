"""Building a reply cheaply must not change what it says: the facts handed to the outbox match what a
reader parses from the bytes, and compiled templates are reused without going stale."""

from __future__ import annotations

from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default

import pytest

from postroom.autoresponse.models import TemplateType
from postroom.autoresponse.rendering import MAX_RANGE, RenderFailed, render
from postroom.autoresponse.reply import build_reply
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
