"""Preview of a rule against a stored or pasted message: match, failed condition, rendered reply, and
nothing sent or recorded."""

from __future__ import annotations

import pytest

from postroom.autoresponse.models import AutoReply
from postroom.autoresponse.preview import preview_message, preview_raw
from postroom.outbox.models import OutgoingMessage
from tests.autoresponse_helpers import make_rule, make_template, stored
from tests.conftest import Cast
from tests.factories import make_mailbox
from tests.mailbuilder import build

pytestmark = pytest.mark.django_db

TRANSLATIONS = [
    ("en", "Re: {{ message.subject }}", "Hello {{ message.sender_name }}"),
    ("de", "AW: {{ message.subject }}", "Hallo"),
]


def test_preview_of_a_pasted_message_renders_the_reply_without_sending(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    rule = make_rule(
        mailbox, [("subject", "contains", "parcel")], template=make_template(cast.acme, TRANSLATIONS)
    )
    raw = build(subject="My parcel", sender="Ann Sender <ann@example.org>")

    result = preview_raw(rule, raw)

    assert result.matched and result.failed_condition == "" and result.not_answered_because == ""
    assert (result.subject, result.content, result.language) == ("Re: My parcel", "Hello Ann Sender", "en")
    assert not OutgoingMessage.objects.exists() and not AutoReply.objects.exists()


def test_preview_names_the_condition_that_failed(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    rule = make_rule(mailbox, [("subject", "contains", "parcel"), ("from", "ends_with", "@globex.example")])
    message = stored(cast.acme, build(subject="My parcel", sender="ann@example.org"))

    result = preview_message(rule, message)

    assert not result.matched and result.failed_condition == "From ends with “@globex.example”"


def test_preview_in_a_chosen_language_and_of_automated_mail(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    rule = make_rule(mailbox, template=make_template(cast.acme, TRANSLATIONS))
    raw = build(subject="Urlaub", headers={"Auto-Submitted": "auto-replied"})

    result = preview_raw(rule, raw, language="de")

    assert result.subject == "AW: Urlaub" and result.language == "de"
    assert "Auto-Submitted" in result.not_answered_because


def test_preview_reports_a_template_that_cannot_render(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    template = make_template(cast.acme, [("en", "Hi", "{{ ''.__class__.__mro__ }}")])
    rule = make_rule(mailbox, template=template)

    result = preview_raw(rule, build())

    assert "Refused by the template sandbox" in result.render_error and result.content == ""
