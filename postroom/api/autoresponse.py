"""Autoresponse rules of a mailbox and the organization's email templates (configure permission), plus
a rule's preview (nothing is sent) and "Save Response As Email Template"."""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from pydantic import Field

from postroom.api.errors import Conflict, FieldErrors
from postroom.api.schemas import Input, responses
from postroom.api.tenancy import open_org
from postroom.autoresponse import editing
from postroom.autoresponse.models import EmailTemplate, Rule
from postroom.autoresponse.preview import Preview, preview_message, preview_raw
from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.organizations.models import Organization

router = Router(tags=["autoresponse"])


class TranslationIO(Input):
    language: str = Field(description='A language tag: "en", "de", "pt-br".')
    subject: str
    content: str


class TemplateIn(Input):
    name: str
    type: Literal["html", "text"] = "text"
    translations: list[TranslationIO]


class TemplateOut(Schema):
    id: int
    name: str
    type: str
    translations: list[TranslationIO]


class InlineTemplateIO(Input):
    type: Literal["html", "text"] = "text"
    translations: list[TranslationIO]


class ConditionIO(Input):
    field: Literal["subject", "body", "from", "to", "cc", "bcc"]
    operator: str = Field(
        description="contains, not_contains, equals, not_equals, starts_with, ends_with, "
        "any_of, not_any_of (comma-separated values), empty, not_empty, matches (regex)"
    )
    value: str = ""


class RuleIn(Input):
    name: str
    active: bool = True
    match_mode: Literal["all", "any"] = "all"
    lets_later_rules_answer: bool = False
    conditions: list[ConditionIO] = []
    template_id: int | None = Field(default=None, description="An organization template; or give `template`.")
    template: InlineTemplateIO | None = None


class RuleOut(Schema):
    id: int
    name: str
    active: bool
    activated_at: str | None
    position: int
    match_mode: str
    lets_later_rules_answer: bool
    conditions: list[ConditionIO]
    template_id: int | None
    template: InlineTemplateIO | None


class MoveIn(Input):
    position: int = Field(ge=0)


class SaveAsTemplateIn(Input):
    name: str


class PreviewIn(Input):
    message_id: int | None = Field(default=None, description="A stored message of the organization...")
    raw: str | None = Field(default=None, description="...or a pasted RFC 5322 message.")
    language: str = Field(default="", description="Preferred language of the reply (optional).")


class PreviewOut(Schema):
    matched: bool
    failed_condition: str
    not_answered_because: str
    language: str
    language_reason: str
    subject: str
    content: str
    type: str
    render_error: str
    regex_timeouts: list[str] = Field(
        description="A note per regular expression that ran out of time on this message, or was not tried "
        "because the message's time for them was used up: each counted as no match, as it does when mail "
        "arrives. Empty when none did."
    )


def _translations(template: EmailTemplate) -> list[TranslationIO]:
    return [
        TranslationIO(language=t.language, subject=t.subject, content=t.content)
        for t in template.translations.all()
    ]


def template_out(template: EmailTemplate) -> TemplateOut:
    return TemplateOut(
        id=template.pk, name=template.name, type=template.type, translations=_translations(template)
    )


def rule_out(rule: Rule) -> RuleOut:
    inline = rule.template.rule_owned
    return RuleOut(
        id=rule.pk,
        name=rule.name,
        active=rule.active,
        activated_at=rule.activated_at.isoformat() if rule.activated_at else None,
        position=rule.position,
        match_mode=rule.match_mode,
        lets_later_rules_answer=rule.lets_later_rules_answer,
        conditions=[
            ConditionIO.model_validate({"field": c.field, "operator": c.operator, "value": c.value})
            for c in rule.conditions.all()
        ],
        template_id=None if inline else rule.template_id,
        template=_inline_out(rule.template) if inline else None,
    )


def _inline_out(template: EmailTemplate) -> InlineTemplateIO:
    return InlineTemplateIO.model_validate({"type": template.type, "translations": _translations(template)})


def _template_data(payload: TemplateIn | InlineTemplateIO, name: str = "") -> editing.TemplateData:
    return editing.TemplateData(
        type=payload.type,
        name=name,
        translations=[
            editing.TranslationData(t.language, t.subject, t.content) for t in payload.translations
        ],
    )


def _rule_data(payload: RuleIn) -> editing.RuleData:
    return editing.RuleData(
        name=payload.name,
        active=payload.active,
        match_mode=payload.match_mode,
        lets_later_rules_answer=payload.lets_later_rules_answer,
        conditions=[editing.ConditionData(c.field, c.operator, c.value) for c in payload.conditions],
        template_id=payload.template_id,
        inline=_template_data(payload.template) if payload.template is not None else None,
    )


def _mailbox(request: HttpRequest, slug: str, mailbox_id: int) -> Mailbox:
    organization = open_org(request, slug, "configure").organization
    return get_object_or_404(Mailbox, pk=mailbox_id, organization=organization)


def _rule(request: HttpRequest, slug: str, mailbox_id: int, rule_id: int) -> Rule:
    mailbox = _mailbox(request, slug, mailbox_id)
    return get_object_or_404(
        Rule.objects.select_related("template", "mailbox", "organization"), pk=rule_id, mailbox=mailbox
    )


def _template(organization: Organization, template_id: int) -> EmailTemplate:
    return get_object_or_404(EmailTemplate, pk=template_id, organization=organization, rule_owned=False)


RULES = "/orgs/{slug}/mailboxes/{mailbox_id}/rules"
RULE = RULES + "/{rule_id}"


@router.get(
    RULES, response=responses({200: list[RuleOut]}), summary="List a mailbox's autoresponse rules in order"
)
def list_rules(request: HttpRequest, slug: str, mailbox_id: int) -> list[RuleOut]:
    mailbox = _mailbox(request, slug, mailbox_id)
    rules = Rule.objects.filter(mailbox=mailbox).select_related("template").prefetch_related("conditions")
    return [rule_out(rule) for rule in rules]


@router.post(RULES, response=responses({201: RuleOut}, validation=True), summary="Add a rule at the end")
def create_rule(request: HttpRequest, slug: str, mailbox_id: int, payload: RuleIn) -> Status[RuleOut]:
    mailbox = _mailbox(request, slug, mailbox_id)
    try:
        rule = editing.save_rule(mailbox, _rule_data(payload))
    except editing.RuleInvalid as exc:
        raise FieldErrors(exc.errors) from None
    return Status(201, rule_out(rule))


@router.get(RULE, response=responses({200: RuleOut}), summary="Get a rule")
def get_rule(request: HttpRequest, slug: str, mailbox_id: int, rule_id: int) -> RuleOut:
    return rule_out(_rule(request, slug, mailbox_id, rule_id))


@router.put(RULE, response=responses({200: RuleOut}, validation=True), summary="Replace a rule")
def update_rule(request: HttpRequest, slug: str, mailbox_id: int, rule_id: int, payload: RuleIn) -> RuleOut:
    rule = _rule(request, slug, mailbox_id, rule_id)
    try:
        rule = editing.save_rule(rule.mailbox, _rule_data(payload), rule)
    except editing.RuleInvalid as exc:
        raise FieldErrors(exc.errors) from None
    return rule_out(rule)


@router.delete(RULE, response=responses({204: None}), summary="Delete a rule")
def delete_rule(request: HttpRequest, slug: str, mailbox_id: int, rule_id: int) -> Status[None]:
    editing.delete_rule(_rule(request, slug, mailbox_id, rule_id))
    return Status(204, None)


@router.post(
    RULE + "/move", response=responses({200: list[RuleOut]}, validation=True), summary="Reorder a rule"
)
def move_rule(
    request: HttpRequest, slug: str, mailbox_id: int, rule_id: int, payload: MoveIn
) -> list[RuleOut]:
    rule = _rule(request, slug, mailbox_id, rule_id)
    editing.move_rule(rule, payload.position)
    return list_rules(request, slug, mailbox_id)


@router.post(
    RULE + "/preview",
    response=responses({200: PreviewOut}, validation=True),
    summary="Preview a rule: nothing is sent",
)
def preview_rule(
    request: HttpRequest, slug: str, mailbox_id: int, rule_id: int, payload: PreviewIn
) -> PreviewOut:
    rule = _rule(request, slug, mailbox_id, rule_id)
    if payload.message_id is not None:
        message = get_object_or_404(Message, pk=payload.message_id, organization=rule.organization)
        result = preview_message(rule, message, payload.language)
    elif payload.raw:
        result = preview_raw(rule, payload.raw.encode("utf-8", "surrogateescape"), payload.language)
    else:
        raise FieldErrors.single("raw", "Give a stored message's id or paste a message.")
    return _preview_out(result)


@router.post(
    RULE + "/save-as-template",
    response=responses({201: TemplateOut}, validation=True),
    summary="Save Response As Email Template",
)
def save_as_template(
    request: HttpRequest, slug: str, mailbox_id: int, rule_id: int, payload: SaveAsTemplateIn
) -> Status[TemplateOut]:
    rule = _rule(request, slug, mailbox_id, rule_id)
    try:
        template = editing.save_as_template(rule, payload.name)
    except editing.RuleInvalid as exc:
        raise FieldErrors(exc.errors) from None
    return Status(201, template_out(template))


@router.get(
    "/orgs/{slug}/templates", response=responses({200: list[TemplateOut]}), summary="List email templates"
)
def list_templates(request: HttpRequest, slug: str) -> list[TemplateOut]:
    organization = open_org(request, slug, "configure").organization
    templates = EmailTemplate.objects.filter(organization=organization, rule_owned=False).prefetch_related(
        "translations"
    )
    return [template_out(t) for t in templates]


@router.post(
    "/orgs/{slug}/templates",
    response=responses({201: TemplateOut}, validation=True),
    summary="Add an email template",
)
def create_template(request: HttpRequest, slug: str, payload: TemplateIn) -> Status[TemplateOut]:
    organization = open_org(request, slug, "configure").organization
    try:
        template = editing.save_template(organization, _template_data(payload, payload.name))
    except editing.RuleInvalid as exc:
        raise FieldErrors(exc.errors) from None
    return Status(201, template_out(template))


@router.get(
    "/orgs/{slug}/templates/{template_id}",
    response=responses({200: TemplateOut}),
    summary="Get an email template",
)
def get_template(request: HttpRequest, slug: str, template_id: int) -> TemplateOut:
    organization = open_org(request, slug, "configure").organization
    return template_out(_template(organization, template_id))


@router.put(
    "/orgs/{slug}/templates/{template_id}",
    response=responses({200: TemplateOut}, validation=True),
    summary="Replace an email template",
)
def update_template(request: HttpRequest, slug: str, template_id: int, payload: TemplateIn) -> TemplateOut:
    organization = open_org(request, slug, "configure").organization
    template = _template(organization, template_id)
    try:
        template = editing.save_template(organization, _template_data(payload, payload.name), template)
    except editing.RuleInvalid as exc:
        raise FieldErrors(exc.errors) from None
    return template_out(template)


@router.delete(
    "/orgs/{slug}/templates/{template_id}",
    response=responses({204: None}, conflict=True),
    summary="Delete an email template that no rule uses",
)
def delete_template(request: HttpRequest, slug: str, template_id: int) -> Status[None]:
    organization = open_org(request, slug, "configure").organization
    template = _template(organization, template_id)
    if template.rules.exists():
        raise Conflict("Rules answer with this template; change them first.")
    template.delete()
    return Status(204, None)


def _preview_out(result: Preview) -> PreviewOut:
    return PreviewOut(
        matched=result.matched,
        failed_condition=result.failed_condition,
        not_answered_because=result.not_answered_because,
        language=result.language,
        language_reason=result.language_reason,
        subject=result.subject,
        content=result.content,
        type=result.kind,
        render_error=result.render_error,
        regex_timeouts=list(result.regex_timeouts),
    )
