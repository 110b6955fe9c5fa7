"""The reply's language (MISSION M7): the sender's language, known from their lead and editable on the
lead page and in the API, then the languages their message asks for (Accept-Language, q-values) or is
written in (Content-Language), then the organization's default."""

from __future__ import annotations

import pytest
from django.utils import timezone

from postroom.autoresponse.language import header_value
from postroom.autoresponse.respond import REPLIED, respond_to
from postroom.crm.models import Lead
from postroom.mailboxes.models import Mailbox
from postroom.organizations import config
from postroom.outbox import send
from postroom.outbox.models import OutgoingMessage
from tests.api_helpers import as_user
from tests.autoresponse_helpers import make_rule, make_template, parsed, smtp_mailbox, stored
from tests.conftest import Cast
from tests.mailbuilder import build
from tests.processing_helpers import converted_lead
from tests.servers.smtp import SmtpServer
from tests.web_support import client_for

pytestmark = pytest.mark.django_db(transaction=True)
pytest_plugins = ["tests.servers.fixtures"]

TRANSLATIONS = [
    ("en", "Thanks", "EN"),
    ("de", "Danke", "DE"),
    ("fr", "Merci", "FR"),
    ("pt-BR", "Obrigado", "PT"),
]


@pytest.fixture(autouse=True)
def trust_test_ca(settings: object, test_certs: object) -> None:
    settings.POSTROOM_EXTRA_CA_FILE = str(test_certs.ca_path)  # type: ignore[attr-defined]


@pytest.fixture
def support(cast: Cast, smtp_server: SmtpServer) -> Mailbox:
    mailbox = smtp_mailbox(cast.acme, smtp_server)
    config.set_value("email.default_language", "en", cast.acme)
    make_rule(mailbox, template=make_template(cast.acme, TRANSLATIONS))
    return mailbox


def reply_subject(support: Mailbox, smtp_server: SmtpServer, headers: dict[str, str] | None = None) -> str:
    """Answer a message from Ann with `headers` and return the subject the SMTP server received."""
    message = stored(
        support.organization, build(sender="Ann <ann@example.org>", to=support.email, headers=headers or {})
    )
    outcome = respond_to(message, support, "inbox", timezone.now())
    assert outcome.status == REPLIED, outcome.reason
    send.deliver(OutgoingMessage.objects.get(in_reply_to=message).pk)
    return str(parsed(smtp_server.messages[-1].data)["Subject"])


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Accept-Language": "fr;q=0.4, de;q=0.9, *;q=0.1"}, "Danke"),  # best q-value first
        ({"Accept-Language": "it, fr-CA;q=0.8"}, "Merci"),  # fr-CA falls back to fr
        ({"Accept-Language": "pt-br"}, "Obrigado"),  # tags compare case-insensitively
        ({"Accept-Language": "de;q=0, fr"}, "Merci"),  # q=0 means "not this one"
        (
            {"Accept-Language": "fr", "Content-Language": "de"},
            "Merci",
        ),  # what they read, before what they wrote
        ({"Accept-Language": "it", "Content-Language": "de"}, "Danke"),
        ({"Accept-Language": "it"}, "Thanks"),  # nothing fits: the organization's default
    ],
)
def test_the_message_s_accept_language_then_content_language_choose(
    support: Mailbox, smtp_server: SmtpServer, headers: dict[str, str], expected: str
) -> None:
    config.set_value("email.autoresponse_limit_hours", 0, support.organization)
    assert reply_subject(support, smtp_server, headers=headers) == expected


def test_the_language_on_the_sender_s_lead_comes_first(
    cast: Cast, support: Mailbox, smtp_server: SmtpServer
) -> None:
    lead = converted_lead(cast.acme, cast.org_admin, sender="Ann <ANN@example.org>")
    Lead.objects.filter(pk=lead.pk).update(language="de")
    config.set_value("email.autoresponse_limit_hours", 0, support.organization)

    assert reply_subject(support, smtp_server, headers={"Accept-Language": "fr"}) == "Danke"

    Lead.objects.filter(pk=lead.pk).update(language="")  # no language known: the message decides again
    assert reply_subject(support, smtp_server, headers={"Accept-Language": "fr"}) == "Merci"


def test_another_organization_s_lead_does_not_count(
    cast: Cast, support: Mailbox, smtp_server: SmtpServer
) -> None:
    lead = converted_lead(cast.globex, cast.outsider, sender="Ann <ann@example.org>")
    Lead.objects.filter(pk=lead.pk).update(language="de")

    assert reply_subject(support, smtp_server) == "Thanks"


def test_the_language_is_set_on_the_lead_page_and_a_bad_tag_is_shown_beside_the_field(cast: Cast) -> None:
    lead = converted_lead(cast.acme, cast.org_admin, sender="Ann <ann@example.org>")
    page = f"/o/{cast.acme.slug}/leads/{lead.pk}/"
    client = client_for(cast.member)

    saved = client.post(page, {"language": " pt-BR "})
    refused = client.post(page, {"language": "not a tag"})

    assert saved.status_code == 302 and saved["Location"] == page
    assert refused.status_code == 422
    assert "language tag" in refused.content.decode() and 'value="not a tag"' in refused.content.decode()
    lead.refresh_from_db()
    assert lead.language == "pt-BR"
    assert "pt-BR" in client.get(page).content.decode()


def test_the_language_is_set_in_the_api(cast: Cast) -> None:
    lead = converted_lead(cast.acme, cast.org_admin, sender="Ann <ann@example.org>")
    path = f"/orgs/{cast.acme.slug}/leads/{lead.pk}"

    ok = as_user(cast.member, "PATCH", path, {"language": "de"})
    bad = as_user(cast.member, "PATCH", path, {"language": "deutsch!"})
    cleared = as_user(cast.member, "PATCH", path, {"language": ""})

    assert ok.status_code == 200 and ok.json()["language"] == "de"
    assert bad.status_code == 422 and "language" in bad.json()["errors"]
    assert cleared.status_code == 200 and cleared.json()["language"] == ""
    assert as_user(cast.member, "GET", path).json()["language"] == ""


def test_header_value_reads_only_the_header_block() -> None:
    raw = b"From: a@example.org\r\nAccept-Language: de-AT,\r\n de;q=0.9\r\n\r\nAccept-Language: fr\r\n"
    assert header_value(raw, "Accept-Language") == "de-AT, de;q=0.9"
    assert header_value(b"From: a@example.org\n\nbody", "Accept-Language") == ""
