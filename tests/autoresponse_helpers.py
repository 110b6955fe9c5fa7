"""Helpers for the outbox and autoresponse tests: a mailbox sending through the test SMTP server,
stored incoming messages, and rules with templates."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from email import message_from_bytes
from email.message import EmailMessage
from email.policy import default as default_policy

from django.utils import timezone

from postroom.autoresponse.models import Condition, EmailTemplate, Rule, TemplateType, Translation
from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.messages.store import store_message
from postroom.organizations.models import Organization
from tests.factories import make_mailbox
from tests.servers.smtp import SmtpServer

ACTIVE_SINCE = datetime(2026, 1, 1, tzinfo=UTC)
LATER = ACTIVE_SINCE + timedelta(days=30)


def smtp_mailbox(
    org: Organization,
    server: SmtpServer,
    label: str = "Support",
    encryption: str = "starttls",
    **extra: object,
) -> Mailbox:
    """A mailbox whose SMTP is the test server (STARTTLS or implicit TLS, AUTH with its user)."""
    fields: dict[str, object] = {
        "smtp_enabled": True,
        "smtp_host": server.host,
        "smtp_port": server.port,
        "smtp_encryption": encryption,
        "username": server.credentials.username,
        "password": server.credentials.password,
    }
    fields.update(extra)
    return make_mailbox(org, label, **fields)


def stored(org: Organization, raw: bytes) -> Message:
    return Message.objects.get(pk=store_message(org, raw).message_id)


def make_template(
    org: Organization,
    translations: Sequence[tuple[str, str, str]] = (("en", "Re: {{ message.subject }}", "We got it."),),
    *,
    kind: str = TemplateType.TEXT,
    name: str | None = None,
) -> EmailTemplate:
    """A template with (language, subject, content) translations; inline (rule-owned) without a name."""
    template = EmailTemplate.objects.create(
        organization=org, name=name or "inline", type=kind, rule_owned=name is None
    )
    for position, (language, subject, content) in enumerate(translations):
        Translation.objects.create(
            template=template, language=language, subject=subject, content=content, position=position
        )
    return template


def make_rule(
    mailbox: Mailbox,
    conditions: Sequence[tuple[str, str, str]] = (),
    *,
    name: str = "Thank you",
    template: EmailTemplate | None = None,
    activated_at: datetime = ACTIVE_SINCE,
    **extra: object,
) -> Rule:
    """An active rule with (field, operator, value) conditions, answering with `template`."""
    rule = Rule.objects.create(
        organization=mailbox.organization,
        mailbox=mailbox,
        name=name,
        activated_at=activated_at,
        template=template or make_template(mailbox.organization),
        position=Rule.objects.filter(mailbox=mailbox).count(),
        **extra,
    )
    for position, (field, operator, value) in enumerate(conditions):
        Condition.objects.create(rule=rule, field=field, operator=operator, value=value, position=position)
    return rule


def parsed(data: bytes) -> EmailMessage:
    message = message_from_bytes(data, policy=default_policy)
    assert isinstance(message, EmailMessage)
    return message


def a_moment_later() -> datetime:
    return timezone.now() + timedelta(seconds=1)


def rule_form_data(**extra: str) -> dict[str, str]:
    """The rule form as posted for a one-condition rule with an inline English text template."""
    data = {
        "name": "Orders",
        "active": "on",
        "match_mode": "all",
        "condition-count": "1",
        "condition-0-field": "subject",
        "condition-0-operator": "contains",
        "condition-0-value": "order",
        "template_choice": "inline",
        "template_type": "text",
        "translation-count": "1",
        "translation-0-language": "en",
        "translation-0-subject": "Re: {{ message.subject }}",
        "translation-0-content": "Thanks",
    }
    data.update(extra)
    return data
