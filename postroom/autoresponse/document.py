"""Templates and rules in the organization's config document (`postroom config export/import`).

    "templates": [{"name": "Thanks", "type": "text" | "html",
                   "translations": [{"language": "en", "subject": "...", "content": "..."}]}]
    "rules": [{"mailbox": "support@acme.example", "name": "Orders", "active": true,
               "match_mode": "all" | "any", "lets_later_rules_answer": false,
               "conditions": [{"field": "subject", "operator": "contains", "value": "order"}],
               "template": "Thanks"                       -- an organization template, by name, or
               "response": {"type": ..., "translations": [...]}}]   -- the rule's own template

Templates are matched by name (case-insensitive), rules by (mailbox email, name); rules are ordered as
listed per mailbox. Import is idempotent: what already matches the document is not written, so a rule's
activation time only moves when the document turns it on. Templates and rules the document does not
mention are left alone.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from postroom.autoresponse import editing
from postroom.autoresponse.models import EmailTemplate, Rule
from postroom.mailboxes.models import Mailbox
from postroom.organizations.models import Organization

Errors = list[tuple[str, str]]
Note = Callable[[str], None]

TEMPLATE_KEYS = {"name", "type", "translations"}
RULE_KEYS = {
    "mailbox",
    "name",
    "active",
    "match_mode",
    "lets_later_rules_answer",
    "conditions",
    "template",
    "response",
}


def export_templates(org: Organization) -> list[dict[str, Any]]:
    templates = EmailTemplate.objects.filter(organization=org, rule_owned=False).prefetch_related(
        "translations"
    )
    return [_template_doc(t) for t in templates.order_by("name")]


def export_rules(org: Organization) -> list[dict[str, Any]]:
    rules = (
        Rule.objects.filter(organization=org)
        .select_related("mailbox", "template")
        .prefetch_related("conditions", "template__translations")
        .order_by("mailbox__email", "position", "id")
    )
    return [_rule_doc(rule) for rule in rules]


def _template_doc(template: EmailTemplate, *, with_name: bool = True) -> dict[str, Any]:
    doc: dict[str, Any] = {"name": template.name} if with_name else {}
    doc["type"] = template.type
    doc["translations"] = [
        {"language": t.language, "subject": t.subject, "content": t.content}
        for t in template.translations.all()
    ]
    return doc


def _rule_doc(rule: Rule) -> dict[str, Any]:
    doc: dict[str, Any] = {"mailbox": rule.mailbox.email, **editing.rule_settings(rule)}
    if rule.template.rule_owned:
        doc["response"] = _template_doc(rule.template, with_name=False)
    else:
        doc["template"] = rule.template.name
    return doc


# --- checking ----------------------------------------------------------------------------------------


def check_templates(value: Any) -> tuple[list[editing.TemplateData], Errors]:
    errors: Errors = []
    if not isinstance(value, list):
        return [], [("templates", "must be an array")]
    found: list[editing.TemplateData] = []
    names: set[str] = set()
    for index, spec in enumerate(value):
        path = f"templates[{index}]"
        data = _template_data(spec, path, errors, named=True)
        if data is None:
            continue
        if data.name.strip().lower() in names:
            errors.append((f"{path}.name", "is listed twice"))
        names.add(data.name.strip().lower())
        errors += [(f"{path}.{k}", " ".join(v)) for k, v in editing.check_template(data).items()]
        found.append(data)
    return found, errors


def check_rules(
    org: Organization, value: Any, templates: list[editing.TemplateData], mailbox_emails: set[str]
) -> tuple[list[tuple[str, editing.RuleData]], Errors]:
    """Rules as (mailbox email, data). `templates` and `mailbox_emails` are what the organization will
    have once the document's own templates and mailboxes are applied."""
    errors: Errors = []
    if not isinstance(value, list):
        return [], [("rules", "must be an array")]
    template_names = {t.name.strip().lower() for t in templates} | {
        n.lower()
        for n in EmailTemplate.objects.filter(organization=org, rule_owned=False).values_list(
            "name", flat=True
        )
    }
    found: list[tuple[str, editing.RuleData]] = []
    seen: set[tuple[str, str]] = set()
    for index, spec in enumerate(value):
        path = f"rules[{index}]"
        if not isinstance(spec, dict):
            errors.append((path, "must be an object"))
            continue
        errors += [(f"{path}.{k}", "unknown key") for k in sorted(set(spec) - RULE_KEYS)]
        mailbox = str(spec.get("mailbox", "")).strip().lower()
        if mailbox not in mailbox_emails:
            errors.append((f"{path}.mailbox", "is not a mailbox of the organization"))
        name = str(spec.get("name", ""))
        if (mailbox, name.strip().lower()) in seen:
            errors.append((f"{path}.name", "is listed twice for this mailbox"))
        seen.add((mailbox, name.strip().lower()))
        if ("template" in spec) == ("response" in spec):
            errors.append((path, 'give either "template" (a template name) or "response"'))
            continue
        inline = None
        if "response" in spec:
            inline = _template_data(spec["response"], f"{path}.response", errors, named=False)
        elif str(spec["template"]).strip().lower() not in template_names:
            errors.append((f"{path}.template", "names no email template"))
        conditions = spec.get("conditions", [])
        if not isinstance(conditions, list) or not all(isinstance(c, dict) for c in conditions):
            errors.append((f"{path}.conditions", "must be an array of objects"))
            conditions = []
        data = editing.RuleData(
            name=name,
            active=bool(spec.get("active", True)),
            match_mode=str(spec.get("match_mode", "all")),
            lets_later_rules_answer=bool(spec.get("lets_later_rules_answer", False)),
            conditions=[
                editing.ConditionData(
                    str(c.get("field", "")), str(c.get("operator", "")), str(c.get("value", ""))
                )
                for c in conditions
            ],
            template_id=None,
            inline=inline or editing.TemplateData(),
        )
        problems = editing.check_rule(org, data if inline else _with_named_template(data))
        errors += [(f"{path}.{_doc_key(k)}", " ".join(v)) for k, v in problems.items()]
        found.append((mailbox, data if inline else _named(data, str(spec["template"]))))
    return found, errors


def _with_named_template(data: editing.RuleData) -> editing.RuleData:
    # The named template may only exist after this import: validate the rest with a stand-in.
    stand_in = editing.TemplateData(translations=[editing.TranslationData("en", "x", "x")])
    return editing.RuleData(
        data.name, data.active, data.match_mode, data.lets_later_rules_answer, data.conditions, None, stand_in
    )


def _named(data: editing.RuleData, template_name: str) -> editing.RuleData:
    named = editing.TemplateData(name=template_name)
    return editing.RuleData(
        data.name, data.active, data.match_mode, data.lets_later_rules_answer, data.conditions, None, named
    )


def _doc_key(key: str) -> str:
    return key.replace("template.", "response.")


def _template_data(spec: Any, path: str, errors: Errors, *, named: bool) -> editing.TemplateData | None:
    if not isinstance(spec, dict):
        errors.append((path, "must be an object"))
        return None
    allowed = TEMPLATE_KEYS if named else TEMPLATE_KEYS - {"name"}
    errors += [(f"{path}.{k}", "unknown key") for k in sorted(set(spec) - allowed)]
    translations = spec.get("translations", [])
    if not isinstance(translations, list) or not all(isinstance(t, dict) for t in translations):
        errors.append((f"{path}.translations", "must be an array of objects"))
        return None
    return editing.TemplateData(
        type=str(spec.get("type", "text")),
        name=str(spec.get("name", "")) if named else "",
        translations=[
            editing.TranslationData(
                str(t.get("language", "")), str(t.get("subject", "")), str(t.get("content", ""))
            )
            for t in translations
        ],
    )


# --- applying ----------------------------------------------------------------------------------------


def apply_templates(
    org: Organization, templates: list[editing.TemplateData], created: Note, updated: Note
) -> None:
    existing = {t.name.lower(): t for t in EmailTemplate.objects.filter(organization=org, rule_owned=False)}
    for data in templates:
        template = existing.get(data.name.strip().lower())
        if template is not None and _same_template(template, data):
            continue
        editing.save_template(org, data, template)
        (created if template is None else updated)(f"email template {data.name.strip()}")


def apply_rules(
    org: Organization, rules: list[tuple[str, editing.RuleData]], created: Note, updated: Note
) -> None:
    mailboxes = {m.email.lower(): m for m in Mailbox.objects.filter(organization=org)}
    templates = {t.name.lower(): t for t in EmailTemplate.objects.filter(organization=org, rule_owned=False)}
    for email, data in rules:
        mailbox = mailboxes[email]
        if data.inline is not None and data.inline.name:  # a named organization template
            template = templates[data.inline.name.strip().lower()]
            data = editing.RuleData(
                data.name,
                data.active,
                data.match_mode,
                data.lets_later_rules_answer,
                data.conditions,
                template.pk,
                None,
            )
        rule = Rule.objects.filter(mailbox=mailbox, name__iexact=data.name.strip()).first()
        if rule is not None and _same_rule(rule, data):
            continue
        editing.save_rule(mailbox, data, rule)
        (created if rule is None else updated)(f"rule {data.name.strip()} of mailbox {mailbox.email}")
    for email in {email for email, _ in rules}:
        names = [data.name.strip().lower() for e, data in rules if e == email]
        for rule in Rule.objects.filter(mailbox=mailboxes[email]):
            if rule.name.lower() in names:
                editing.move_rule(rule, names.index(rule.name.lower()))


def _same_template(template: EmailTemplate, data: editing.TemplateData) -> bool:
    current = _template_doc(template, with_name=False)
    wanted = {
        "type": data.type,
        "translations": [
            {"language": t.language.strip().lower(), "subject": t.subject.strip(), "content": t.content}
            for t in data.translations
        ],
    }
    return bool(current == wanted and (not data.name or template.name == data.name.strip()))


def _same_rule(rule: Rule, data: editing.RuleData) -> bool:
    current = _rule_doc(rule)
    wanted_conditions = [
        {"field": c.field, "operator": c.operator, "value": c.value.strip()} for c in data.conditions
    ]
    same = (
        current["name"] == data.name.strip()
        and current["active"] == data.active
        and current["match_mode"] == data.match_mode
        and current["lets_later_rules_answer"] == data.lets_later_rules_answer
        and current["conditions"] == wanted_conditions
    )
    if data.template_id is not None:
        return same and rule.template_id == data.template_id
    assert data.inline is not None
    return same and rule.template.rule_owned and _same_template(rule.template, data.inline)
