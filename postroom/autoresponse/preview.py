"""Preview: test a rule against a stored or pasted message — does it match, which condition failed,
would the message be answered at all, and the rendered reply — without sending or recording anything."""

from __future__ import annotations

from dataclasses import dataclass

from postroom.autoresponse import eligibility
from postroom.autoresponse.conditions import Facts, compile_rule
from postroom.autoresponse.language import accept_language, contact_language, header_value
from postroom.autoresponse.models import Rule
from postroom.autoresponse.rendering import RenderFailed, choose_translation, render
from postroom.autoresponse.respond import facts_of, template_context
from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.messages.parse import parse
from postroom.organizations import config


@dataclass(frozen=True)
class Preview:
    matched: bool
    failed_condition: str  # label of the condition that decided against the rule; "" when matched
    not_answered_because: str  # an eligibility refusal (automated mail, own mailbox...); "" if eligible
    language: str
    language_reason: str
    subject: str
    content: str
    kind: str
    render_error: str  # the template's problem, when it cannot be rendered
    regex_timeouts: tuple[str, ...] = ()  # regular expressions that ran out of time (counted as no match)


def preview_message(rule: Rule, message: Message, language: str = "") -> Preview:
    """Preview `rule` on a stored message of its organization (in `language`, else as replies choose)."""
    return _preview(rule, message, facts_of(message), language, accept_language(message))


def preview_raw(rule: Rule, raw: bytes, language: str = "") -> Preview:
    """Preview `rule` on pasted RFC 5322 bytes (parsed, never stored)."""
    parsed = parse(raw)
    message = Message(
        organization_id=rule.organization_id,
        message_id=parsed.message_id,
        subject=parsed.subject,
        from_name=parsed.from_name,
        from_address=parsed.from_address,
        to=[list(a) for a in parsed.to],
        cc=[list(a) for a in parsed.cc],
        bcc=[list(a) for a in parsed.bcc],
        reply_to=[list(a) for a in parsed.reply_to],
        date=parsed.date,
        auto_submitted=parsed.auto_submitted,
        precedence=parsed.precedence,
        list_id=parsed.list_id,
        list_unsubscribe=parsed.list_unsubscribe,
        x_autoreply=parsed.x_autoreply,
        x_auto_response_suppress=parsed.x_auto_response_suppress,
        return_path=parsed.return_path,
        content_language=parsed.content_language,
        is_delivery_report=parsed.is_delivery_report,
    )
    facts = Facts(
        subject=parsed.subject,
        text=parsed.text,
        html=parsed.html,
        sender=[(parsed.from_name, parsed.from_address)] if parsed.from_address else [],
        to=list(parsed.to),
        cc=list(parsed.cc),
        bcc=list(parsed.bcc),
    )
    return _preview(rule, message, facts, language, header_value(raw, "Accept-Language"))


def _preview(rule: Rule, message: Message, facts: Facts, language: str, accept: str) -> Preview:
    mailbox: Mailbox = rule.mailbox
    compiled = compile_rule(rule, list(rule.conditions.all()))
    failed = compiled.first_failure(facts)
    refusal = eligibility.automated(message) or _own_sender(message, mailbox)
    choice = choose_translation(
        list(rule.template.translations.all()),
        contact_language=language or contact_language(rule.organization_id, message.from_address),
        accept_language=accept,
        content_language=message.content_language,
        default_language=str(config.get("email.default_language", mailbox.organization)),
    )
    subject = content = error = ""
    if choice is None:
        error = "The response template has no translation."
    else:
        context = template_context(message, mailbox, None)
        try:
            subject = render(choice.translation.subject, context)
            content = render(choice.translation.content, context, rule.template.type)
        except RenderFailed as exc:
            error = str(exc)
    return Preview(
        matched=failed is None,
        failed_condition=failed.label if failed is not None else "",
        not_answered_because=refusal,
        language=choice.translation.language if choice else "",
        language_reason=choice.why if choice else "",
        subject=subject,
        content=content,
        kind=rule.template.type,
        render_error=error,
        regex_timeouts=tuple(facts.timeouts),
    )


def _own_sender(message: Message, mailbox: Mailbox) -> str:
    own = set(Mailbox.objects.filter(organization_id=mailbox.organization_id).values_list("email", flat=True))
    sender = message.from_address.lower()
    return f"Sent by a mailbox of this organization ({sender})." if sender in {o.lower() for o in own} else ""
