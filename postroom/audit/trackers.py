"""What the audit log records of each kind of object: a snapshot of its fields as plain JSON values, read
from the database, so a change is the difference between the snapshot before and after it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.db import models

from postroom.audit.models import ObjectType
from postroom.autoresponse.models import EmailTemplate, Rule
from postroom.crm.models import Lead, LeadSource
from postroom.mailboxes.models import Mailbox
from postroom.organizations.models import ConfigValue, Membership, Role

Snapshot = dict[str, Any]


@dataclass(frozen=True)
class Tracker:
    object_type: str
    snapshot: Callable[[Any], Snapshot]
    label: Callable[[Any], str]
    # Fields whose values are secret: a change is recorded as "changed", the value never.
    secrets: frozenset[str] = frozenset()
    # Objects of the tracked model that are not audited on their own (a rule's own response template is
    # part of the rule's snapshot).
    skip: Callable[[Any], bool] = lambda obj: False
    # Set for a model the system creates and people only edit a few fields of: only saves that name one
    # of these in `update_fields` are recorded, so creating (or deleting) one costs no query and no row.
    edited_fields: frozenset[str] | None = None

    def records_save(self, update_fields: Iterable[str] | None) -> bool:
        if self.edited_fields is None:
            return True
        return update_fields is not None and not self.edited_fields.isdisjoint(update_fields)


def _name(obj: models.Model | None) -> str | None:
    return None if obj is None else str(obj)


def _names(manager: Any) -> list[str]:
    return sorted(str(item) for item in manager.all())


def _translations(template: EmailTemplate) -> list[dict[str, str]]:
    return [
        {"language": t.language, "subject": t.subject, "content": t.content}
        for t in template.translations.order_by("position")
    ]


def mailbox_snapshot(mailbox: Mailbox) -> Snapshot:
    plain = (
        "label email imap_enabled imap_host imap_port imap_encryption smtp_enabled smtp_host smtp_port "
        "smtp_encryption username verify_tls process_type case_status case_priority"
    ).split()
    snapshot: Snapshot = {name: getattr(mailbox, name) for name in plain}
    snapshot["sync_since"] = mailbox.sync_since.isoformat() if mailbox.sync_since else None
    snapshot["owner"] = _name(mailbox.owner)
    snapshot["lead_source"] = _name(mailbox.lead_source)
    snapshot["case_assignee"] = _name(mailbox.case_assignee)
    snapshot["access_roles"] = _names(mailbox.access_roles)
    snapshot["access_users"] = _names(mailbox.access_users)
    snapshot["password"] = mailbox.password_ciphertext
    return snapshot


def rule_snapshot(rule: Rule) -> Snapshot:
    template = rule.template
    return {
        "mailbox": rule.mailbox.email,
        "name": rule.name,
        "active": rule.active,
        "match_mode": rule.match_mode,
        "lets_later_rules_answer": rule.lets_later_rules_answer,
        "position": rule.position,
        "conditions": [str(c) for c in rule.conditions.order_by("position")],
        "template": None if template.rule_owned else template.name,
        "response": _translations(template) if template.rule_owned else None,
    }


def template_snapshot(template: EmailTemplate) -> Snapshot:
    return {"name": template.name, "type": template.type, "translations": _translations(template)}


def role_snapshot(role: Role) -> Snapshot:
    return {"name": role.name, "description": role.description, "can_configure": role.can_configure}


def membership_snapshot(membership: Membership) -> Snapshot:
    return {"user": membership.user.email, "is_admin": membership.is_admin, "roles": _names(membership.roles)}


def lead_source_snapshot(source: LeadSource) -> Snapshot:
    return {"key": source.key, "label": source.label, "position": source.position, "retired": source.retired}


def lead_snapshot(lead: Lead) -> Snapshot:
    # Only what people edit on a lead; the rest comes from the converted mail.
    return {"language": lead.language}


def config_snapshot(value: ConfigValue) -> Snapshot:
    return {value.key: value.value}


TRACKERS: dict[type[models.Model], Tracker] = {
    Mailbox: Tracker(
        ObjectType.MAILBOX, mailbox_snapshot, lambda m: f"{m.label} <{m.email}>", frozenset({"password"})
    ),
    Rule: Tracker(ObjectType.RULE, rule_snapshot, lambda r: f"{r.name} ({r.mailbox.email})"),
    EmailTemplate: Tracker(
        ObjectType.TEMPLATE, template_snapshot, lambda t: t.name, skip=lambda t: t.rule_owned
    ),
    Role: Tracker(ObjectType.ROLE, role_snapshot, lambda r: r.name),
    Membership: Tracker(ObjectType.MEMBERSHIP, membership_snapshot, lambda m: m.user.email),
    LeadSource: Tracker(ObjectType.LEAD_SOURCE, lead_source_snapshot, lambda s: s.label),
    Lead: Tracker(
        ObjectType.LEAD,
        lead_snapshot,
        lambda lead: f"{lead.reference} {lead.name}".strip(),
        edited_fields=frozenset({"language"}),
    ),
    ConfigValue: Tracker(ObjectType.CONFIGURATION, config_snapshot, lambda v: v.key),
}
