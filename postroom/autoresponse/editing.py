"""Creating and changing rules and templates, shared by the web pages, the API and the config document.

Everything is validated before anything is written (`RuleInvalid` carries messages per field), and each
change is one transaction: a rule is never saved with half of its conditions.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from postroom.audit.recorder import batch as audit_batch
from postroom.audit.recorder import watch
from postroom.autoresponse.conditions import InvalidCondition, validate
from postroom.autoresponse.models import Condition, EmailTemplate, MatchMode, Rule, TemplateType, Translation
from postroom.autoresponse.rendering import RenderFailed, check_source
from postroom.mailboxes.models import Mailbox
from postroom.organizations.models import Organization

NAME_TAKEN = "An email template with this name already exists."


class RuleInvalid(ValueError):
    """Input that cannot be saved; `errors` maps a field ("name", "conditions.0", ...) to messages."""

    def __init__(self, errors: Mapping[str, list[str]]) -> None:
        super().__init__("; ".join(f"{k}: {' '.join(v)}" for k, v in errors.items()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class TranslationData:
    language: str
    subject: str
    content: str


@dataclass(frozen=True)
class TemplateData:
    type: str = TemplateType.TEXT
    translations: Sequence[TranslationData] = ()
    name: str = ""


@dataclass(frozen=True)
class ConditionData:
    field: str
    operator: str
    value: str = ""


@dataclass(frozen=True)
class RuleData:
    """A rule as entered. `template_id` picks an organization template; otherwise `inline` is the rule's
    own template."""

    name: str
    active: bool = True
    match_mode: str = MatchMode.ALL
    lets_later_rules_answer: bool = False
    conditions: Sequence[ConditionData] = ()
    template_id: int | None = None
    inline: TemplateData | None = None


def check_template(data: TemplateData, prefix: str = "") -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if data.type not in TemplateType.values:
        errors[f"{prefix}type"] = ["Choose HTML or plain text."]
    if not data.translations:
        errors[f"{prefix}translations"] = ["Add at least one language."]
    seen: set[str] = set()
    for index, t in enumerate(data.translations):
        key = f"{prefix}translations.{index}"
        language = t.language.strip().lower()
        problems = []
        if not language or len(language) > 20:
            problems.append("Enter a language code such as en or de.")
        elif language in seen:
            problems.append(f"The language {language} is listed twice.")
        seen.add(language)
        if not t.subject.strip():
            problems.append("Enter a subject.")
        for source, kind in ((t.subject, TemplateType.TEXT), (t.content, data.type)):
            try:
                check_source(source, kind)
            except RenderFailed as exc:
                problems.append(str(exc))
        if problems:
            errors[key] = problems
    return errors


def check_rule(organization: Organization, data: RuleData) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    if not data.name.strip():
        errors["name"] = ["Enter a name for the rule."]
    elif len(data.name.strip()) > 200:
        errors["name"] = ["Use at most 200 characters."]
    if data.match_mode not in MatchMode.values:
        errors["match_mode"] = ["Choose all or any."]
    for index, c in enumerate(data.conditions):
        try:
            validate(c.field, c.operator, c.value)
        except InvalidCondition as exc:
            errors[f"conditions.{index}"] = [str(exc)]
    if data.template_id is not None:
        exists = EmailTemplate.objects.filter(
            pk=data.template_id, organization=organization, rule_owned=False
        ).exists()
        if not exists:
            errors["template_id"] = ["Choose one of the organization's email templates."]
    elif data.inline is None:
        errors["template"] = ["Pick an email template or write one."]
    else:
        errors.update(check_template(data.inline, "template."))
    return errors


def save_rule(mailbox: Mailbox, data: RuleData, rule: Rule | None = None) -> Rule:
    """Create (`rule` None) or replace a rule of `mailbox`. Raises RuleInvalid."""
    errors = check_rule(mailbox.organization, data)
    if errors:
        raise RuleInvalid(errors)
    # One audit entry for the rule with its conditions and response, taken before anything is written.
    with transaction.atomic(), audit_batch():
        if rule is not None:
            watch(rule)
        old_inline = rule.template if rule is not None and rule.template.rule_owned else None
        if data.template_id is not None:
            template = EmailTemplate.objects.get(pk=data.template_id)
        else:
            assert data.inline is not None
            template = _write_template(mailbox.organization, data.inline, old_inline, rule_owned=True)
        if rule is None:
            last = Rule.objects.filter(mailbox=mailbox).aggregate(Max("position"))["position__max"]
            rule = Rule(
                organization=mailbox.organization, mailbox=mailbox, position=0 if last is None else last + 1
            )
        was_active = rule.active and rule.activated_at is not None and rule.pk is not None
        rule.name = data.name.strip()
        rule.match_mode = data.match_mode
        rule.lets_later_rules_answer = data.lets_later_rules_answer
        rule.template = template
        rule.active = data.active
        if data.active and not was_active:
            rule.activated_at = timezone.now()
        rule.save()
        rule.conditions.all().delete()
        Condition.objects.bulk_create(
            Condition(rule=rule, field=c.field, operator=c.operator, value=c.value.strip(), position=i)
            for i, c in enumerate(data.conditions)
        )
        if old_inline is not None and old_inline.pk != template.pk:
            old_inline.delete()
    return rule


def delete_rule(rule: Rule) -> None:
    with transaction.atomic():
        inline = rule.template if rule.template.rule_owned else None
        rule.delete()
        if inline is not None:
            inline.delete()


def set_active(rule: Rule, active: bool) -> None:
    """Activate (from now on: earlier mail is never answered) or deactivate a rule."""
    if active:
        rule.activate()
    else:
        rule.active = False
    rule.save(update_fields=["active", "activated_at"])


def move_rule(rule: Rule, position: int) -> None:
    """Put `rule` at `position` (clamped) among its mailbox's rules and renumber them 0..n-1."""
    with transaction.atomic(), audit_batch():
        others = [r for r in Rule.objects.select_for_update().filter(mailbox=rule.mailbox) if r.pk != rule.pk]
        others.insert(max(0, min(position, len(others))), rule)
        for index, item in enumerate(others):
            watch(item)  # update() sends no signal: the audit log is told of the new order here
            Rule.objects.filter(pk=item.pk).update(position=index)


def save_template(
    organization: Organization, data: TemplateData, template: EmailTemplate | None = None
) -> EmailTemplate:
    """Create or replace an organization email template. Raises RuleInvalid."""
    errors = check_template(data)
    name = data.name.strip()
    if not name:
        errors["name"] = ["Enter a name for the template."]
    elif _name_taken(organization, name, template):
        errors["name"] = [NAME_TAKEN]
    if errors:
        raise RuleInvalid(errors)
    try:
        with transaction.atomic(), audit_batch():
            return _write_template(organization, data, template, rule_owned=False)
    except IntegrityError:
        raise RuleInvalid({"name": [NAME_TAKEN]}) from None


def save_as_template(rule: Rule, name: str) -> EmailTemplate:
    """ "Save Response As Email Template": copy the rule's template into a new organization template."""
    source = rule.template
    data = TemplateData(
        type=source.type,
        name=name,
        translations=[TranslationData(t.language, t.subject, t.content) for t in source.translations.all()],
    )
    return save_template(rule.organization, data)


def rule_settings(rule: Rule) -> dict[str, Any]:
    """A rule's own settings and conditions as plain values: what the rule form and the config document
    both start from."""
    return {
        "name": rule.name,
        "active": rule.active,
        "match_mode": rule.match_mode,
        "lets_later_rules_answer": rule.lets_later_rules_answer,
        "conditions": [
            {"field": c.field, "operator": c.operator, "value": c.value} for c in rule.conditions.all()
        ],
    }


def template_data(template: EmailTemplate) -> TemplateData:
    return TemplateData(
        type=template.type,
        name="" if template.rule_owned else template.name,
        translations=[TranslationData(t.language, t.subject, t.content) for t in template.translations.all()],
    )


def _name_taken(organization: Organization, name: str, template: EmailTemplate | None) -> bool:
    clash = EmailTemplate.objects.filter(organization=organization, rule_owned=False, name__iexact=name)
    if template is not None:
        clash = clash.exclude(pk=template.pk)
    return clash.exists()


def _write_template(
    organization: Organization, data: TemplateData, template: EmailTemplate | None, *, rule_owned: bool
) -> EmailTemplate:
    if template is None:
        template = EmailTemplate(organization=organization, rule_owned=rule_owned)
    template.name = data.name.strip() or "Rule response"
    template.type = data.type
    template.save()
    template.translations.all().delete()
    Translation.objects.bulk_create(
        Translation(
            template=template,
            language=t.language.strip().lower(),
            subject=t.subject.strip(),
            content=t.content,
            position=i,
        )
        for i, t in enumerate(data.translations)
    )
    return template
