"""The config document: an organization's setup as JSON, so operators can keep it in version control.

`export_organization` writes it; `import_document` applies one to an organization. The schema is
documented in the README. Contracts:

- Never any secret: a mailbox's password is neither exported nor imported (a mailbox created by an
  import has none until an admin sets it, and the report says so).
- Import checks the whole document before anything is applied and raises `DocumentInvalid` naming the
  JSON path of every problem; then it applies everything in one transaction, so a bad document changes
  nothing. Mailboxes are validated by the same `MailboxForm` as the web UI, the API and the CLI.
- Roles are matched by name (case-insensitive), lead sources by key, mailboxes by email. Import creates
  and updates, never deletes: what the document leaves out is left alone and listed in the report.
- Importing the same document twice changes nothing the second time.
"""

from __future__ import annotations

from collections.abc import Iterator
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from postroom.accounts.models import User
from postroom.autoresponse import document as autoresponse_document
from postroom.autoresponse.editing import RuleData, TemplateData
from postroom.crm.models import LeadSource
from postroom.mailboxes.forms import MailboxForm, organization_users
from postroom.mailboxes.models import Mailbox
from postroom.organizations import config
from postroom.organizations.models import Organization, Role, slug_validator

FORMAT_KEY = "postroom_config"
FORMAT_VERSION = 1
TOP_LEVEL_KEYS = {
    FORMAT_KEY,
    "organization",
    "settings",
    "roles",
    "lead_sources",
    "mailboxes",
    "templates",
    "rules",
}
ROLE_KEYS = {"name", "description", "can_configure"}
SOURCE_KEYS = {"key", "label", "position", "retired"}
MAILBOX_KEYS = {"label", "email", "imap", "smtp", "user", "verify_tls", "sync_since", "processing", "access"}
SERVER_KEYS = {"enabled", "host", "port", "encryption"}
PROCESSING_KEYS = {"type", "owner", "source", "assign_to", "status", "priority"}
ACCESS_KEYS = {"roles", "users"}

# MailboxForm field -> where the value lives inside one entry of "mailboxes".
FORM_FIELD_PATHS = {
    "label": "label",
    "email": "email",
    "imap_enabled": "imap.enabled",
    "imap_host": "imap.host",
    "imap_port": "imap.port",
    "imap_encryption": "imap.encryption",
    "smtp_enabled": "smtp.enabled",
    "smtp_host": "smtp.host",
    "smtp_port": "smtp.port",
    "smtp_encryption": "smtp.encryption",
    "username": "user",
    "password": "user",
    "verify_tls": "verify_tls",
    "sync_since": "sync_since",
    "process_type": "processing.type",
    "owner": "processing.owner",
    "lead_source": "processing.source",
    "case_assignee": "processing.assign_to",
    "case_status": "processing.status",
    "case_priority": "processing.priority",
    "access_roles": "access.roles",
    "access_users": "access.users",
}


class DocumentInvalid(ValueError):
    """The document cannot be imported; `errors` holds (JSON path, message) pairs."""

    def __init__(self, errors: list[tuple[str, str]]) -> None:
        self.errors = errors
        super().__init__("; ".join(f"{path}: {message}" for path, message in errors))


@dataclass
class ImportReport:
    """What an import did, one human-readable item per thing, e.g. "mailbox support@acme.example"."""

    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    left_alone: list[str] = field(default_factory=list)
    password_needed: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.created or self.updated)

    def as_dict(self) -> dict[str, Any]:
        return {
            "changed": self.changed,
            "created": self.created,
            "updated": self.updated,
            "left_alone": self.left_alone,
            "password_needed": self.password_needed,
        }


# ---------------------------------------------------------------------------------------------- export


def export_organization(org: Organization) -> dict[str, Any]:
    """The organization's setup as a config document (see the module docstring)."""
    mailboxes = Mailbox.objects.filter(organization=org).select_related(
        "owner", "lead_source", "case_assignee"
    )
    return {
        FORMAT_KEY: FORMAT_VERSION,
        "organization": {"slug": org.slug, "name": org.name},
        "settings": dict(sorted(config.overrides(org).items())),
        "roles": [export_role(role) for role in Role.objects.filter(organization=org).order_by("name")],
        "lead_sources": [
            export_source(source)
            for source in LeadSource.objects.filter(organization=org).order_by("position", "id")
        ],
        "mailboxes": [export_mailbox(mailbox) for mailbox in mailboxes.order_by("email")],
        "templates": autoresponse_document.export_templates(org),
        "rules": autoresponse_document.export_rules(org),
    }


def export_role(role: Role) -> dict[str, Any]:
    return {"name": role.name, "description": role.description, "can_configure": role.can_configure}


def export_source(source: LeadSource) -> dict[str, Any]:
    return {"key": source.key, "label": source.label, "position": source.position, "retired": source.retired}


def export_mailbox(mailbox: Mailbox) -> dict[str, Any]:
    """One mailbox without any secret. Also used, for a new unsaved Mailbox, as the import's defaults."""
    saved = mailbox.pk is not None
    return {
        "label": mailbox.label,
        "email": mailbox.email,
        **mailbox.server_settings(),
        "user": mailbox.username,
        "verify_tls": mailbox.verify_tls,
        "sync_since": mailbox.sync_since.isoformat() if mailbox.sync_since else None,
        "processing": {
            "type": mailbox.process_type,
            "owner": mailbox.owner.email if mailbox.owner else None,
            "source": mailbox.lead_source.key if mailbox.lead_source else None,
            "assign_to": mailbox.case_assignee.email if mailbox.case_assignee else None,
            "status": mailbox.case_status,
            "priority": mailbox.case_priority,
        },
        "access": {
            "roles": sorted(role.name for role in mailbox.access_roles.all()) if saved else [],
            "users": sorted(user.email for user in mailbox.access_users.all()) if saved else [],
        },
    }


# ------------------------------------------------------------------------------------- reading & checks


class Reader:
    """Type checks with JSON paths; collects every problem instead of stopping at the first."""

    def __init__(self) -> None:
        self.errors: list[tuple[str, str]] = []

    def fail(self, path: str, message: str) -> None:
        self.errors.append((path, message))

    def obj(
        self, value: Any, path: str, allowed: AbstractSet[str], required: AbstractSet[str] = frozenset()
    ) -> dict[str, Any]:
        if not isinstance(value, dict):
            self.fail(path, "must be an object")
            return {}
        for key in sorted(set(value) - allowed):
            self.fail(join(path, key), "unknown key")
        for key in sorted(required - set(value)):
            self.fail(join(path, key), "is required")
        return value

    def array(self, value: Any, path: str) -> list[Any]:
        if not isinstance(value, list):
            self.fail(path, "must be an array")
            return []
        return value

    def string(self, parent: dict[str, Any], key: str, path: str, *, nullable: bool = False) -> None:
        value = parent.get(key)
        if key in parent and not (isinstance(value, str) or (nullable and value is None)):
            self.fail(join(path, key), "must be a string" + (" or null" if nullable else ""))

    def boolean(self, parent: dict[str, Any], key: str, path: str) -> None:
        if key in parent and not isinstance(parent[key], bool):
            self.fail(join(path, key), "must be true or false")

    def integer(self, parent: dict[str, Any], key: str, path: str) -> None:
        value = parent.get(key)
        if key in parent and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            self.fail(join(path, key), "must be a whole number, 0 or more")


def join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


@dataclass
class Plan:
    """A checked document, ready to apply."""

    settings: dict[str, Any]
    roles: list[dict[str, Any]]
    sources: list[dict[str, Any]]
    mailboxes: list[dict[str, Any]]
    templates: list[TemplateData] = field(default_factory=list)
    rules: list[tuple[str, RuleData]] = field(default_factory=list)


def check_document(org: Organization, document: Any) -> Plan:
    """Everything that can be checked before touching the database; raises DocumentInvalid."""
    reader = Reader()
    top = reader.obj(document, "", TOP_LEVEL_KEYS, {FORMAT_KEY})
    version = top.get(FORMAT_KEY)
    if FORMAT_KEY in top and (isinstance(version, bool) or version != FORMAT_VERSION):
        reader.fail(
            FORMAT_KEY, f"unsupported format version {version!r} (this Postroom reads {FORMAT_VERSION})"
        )
    if reader.errors:  # not a document we understand: the rest would only be noise
        raise DocumentInvalid(reader.errors)
    if "organization" in top:
        reader.obj(top["organization"], "organization", {"slug", "name"})
    plan = Plan(
        settings=check_settings(reader, top.get("settings", {})),
        roles=check_roles(reader, top.get("roles", [])),
        sources=check_sources(reader, top.get("lead_sources", [])),
        mailboxes=[],
    )
    plan.mailboxes = check_mailboxes(reader, org, plan, top.get("mailboxes", []))
    plan.templates, problems = autoresponse_document.check_templates(top.get("templates", []))
    emails = {m["email"].strip().lower() for m in plan.mailboxes if isinstance(m.get("email"), str)}
    emails |= {e.lower() for e in Mailbox.objects.filter(organization=org).values_list("email", flat=True)}
    plan.rules, rule_problems = autoresponse_document.check_rules(
        org, top.get("rules", []), plan.templates, emails
    )
    for path, message in problems + rule_problems:
        reader.fail(path, message)
    if reader.errors:
        raise DocumentInvalid(reader.errors)
    return plan


def check_settings(reader: Reader, value: Any) -> dict[str, Any]:
    cleaned: dict[str, Any] = {}
    for key, raw in reader.obj(value, "settings", set(value) if isinstance(value, dict) else set()).items():
        try:
            cleaned[key] = config.clean_value(key, raw)
        except config.UnknownSetting:
            reader.fail(join("settings", key), "unknown setting")
        except ValueError as exc:
            reader.fail(join("settings", key), str(exc))
    return cleaned


def check_roles(reader: Reader, value: Any) -> list[dict[str, Any]]:
    seen: set[str] = set()
    roles = []
    for index, raw in enumerate(reader.array(value, "roles")):
        path = join("roles", index)
        role = reader.obj(raw, path, ROLE_KEYS, {"name"})
        reader.string(role, "name", path)
        reader.string(role, "description", path)
        reader.boolean(role, "can_configure", path)
        name = role.get("name")
        if isinstance(name, str):
            if not name.strip() or len(name.strip()) > 100:
                reader.fail(join(path, "name"), "must be 1 to 100 characters")
            elif name.strip().lower() in seen:
                reader.fail(join(path, "name"), f"role {name!r} appears twice")
            seen.add(name.strip().lower())
        roles.append(role)
    return roles


def check_sources(reader: Reader, value: Any) -> list[dict[str, Any]]:
    keys: set[str] = set()
    labels: set[str] = set()
    sources = []
    for index, raw in enumerate(reader.array(value, "lead_sources")):
        path = join("lead_sources", index)
        source = reader.obj(raw, path, SOURCE_KEYS, {"key", "label"})
        for name in ("key", "label"):
            reader.string(source, name, path)
        reader.integer(source, "position", path)
        reader.boolean(source, "retired", path)
        key, label = source.get("key"), source.get("label")
        if isinstance(key, str):
            if not is_slug(key):
                reader.fail(join(path, "key"), "use lowercase letters, digits and dashes")
            elif key in keys:
                reader.fail(join(path, "key"), f"lead source {key!r} appears twice")
            keys.add(key)
        if isinstance(label, str):
            if not label.strip() or len(label.strip()) > 100:
                reader.fail(join(path, "label"), "must be 1 to 100 characters")
            elif label.strip().lower() in labels:
                reader.fail(join(path, "label"), f"label {label!r} appears twice")
            labels.add(label.strip().lower())
        sources.append(source)
    return sources


def is_slug(value: str) -> bool:
    try:
        slug_validator(value)
    except ValidationError:
        return False
    return True


def check_mailboxes(reader: Reader, org: Organization, plan: Plan, value: Any) -> list[dict[str, Any]]:
    """Shapes and references (users, roles, sources); field values are checked later by MailboxForm."""
    known = KnownNames.of(org, plan)
    emails: set[str] = set()
    mailboxes = []
    for index, raw in enumerate(reader.array(value, "mailboxes")):
        path = join("mailboxes", index)
        mailbox = reader.obj(raw, path, MAILBOX_KEYS, {"label", "email"})
        for key in ("label", "email", "user"):
            reader.string(mailbox, key, path)
        reader.string(mailbox, "sync_since", path, nullable=True)
        reader.boolean(mailbox, "verify_tls", path)
        for server in ("imap", "smtp"):
            if server in mailbox:
                section = reader.obj(mailbox[server], join(path, server), SERVER_KEYS)
                reader.boolean(section, "enabled", join(path, server))
                reader.string(section, "host", join(path, server))
                reader.integer(section, "port", join(path, server))
                reader.string(section, "encryption", join(path, server))
        if "processing" in mailbox:
            check_processing(reader, known, mailbox["processing"], join(path, "processing"))
        if "access" in mailbox:
            check_access(reader, known, mailbox["access"], join(path, "access"))
        email = mailbox.get("email")
        if isinstance(email, str):
            if email.strip().lower() in emails:
                reader.fail(join(path, "email"), f"mailbox {email!r} appears twice")
            emails.add(email.strip().lower())
        mailboxes.append(mailbox)
    return mailboxes


@dataclass
class KnownNames:
    """Names a mailbox may refer to: members of the organization, and roles and lead sources that exist
    already or are defined by the document itself.
    """

    members: set[str]
    roles: set[str]
    sources: set[str]

    @classmethod
    def of(cls, org: Organization, plan: Plan) -> KnownNames:
        roles = {
            name.lower() for name in Role.objects.filter(organization=org).values_list("name", flat=True)
        }
        roles |= {r["name"].strip().lower() for r in plan.roles if isinstance(r.get("name"), str)}
        sources = set(LeadSource.objects.filter(organization=org).values_list("key", flat=True))
        sources |= {s["key"] for s in plan.sources if isinstance(s.get("key"), str)}
        members = {email.lower() for email in organization_users(org).values_list("email", flat=True)}
        return cls(members=members, roles=roles, sources=sources)


def check_processing(reader: Reader, known: KnownNames, value: Any, path: str) -> None:
    processing = reader.obj(value, path, PROCESSING_KEYS)
    for key in ("type", "status", "priority"):
        reader.string(processing, key, path)
    for key in ("owner", "assign_to", "source"):
        reader.string(processing, key, path, nullable=True)
    for key in ("owner", "assign_to"):
        email = processing.get(key)
        if isinstance(email, str) and email.strip().lower() not in known.members:
            reader.fail(join(path, key), f"{email} is not a member of this organization")
    source = processing.get("source")
    if isinstance(source, str) and source not in known.sources:
        reader.fail(join(path, "source"), f"no lead source with key {source!r} (define it in lead_sources)")


def check_access(reader: Reader, known: KnownNames, value: Any, path: str) -> None:
    access = reader.obj(value, path, ACCESS_KEYS)
    for key, names, what in (("roles", known.roles, "role"), ("users", known.members, "member")):
        for index, name in enumerate(reader.array(access.get(key, []), join(path, key))):
            item_path = join(join(path, key), index)
            if not isinstance(name, str):
                reader.fail(item_path, "must be a string")
            elif name.strip().lower() not in names:
                hint = " (define it in roles)" if key == "roles" else " of this organization"
                reader.fail(item_path, f"{name!r} is not a {what}{hint}")


# -------------------------------------------------------------------------------------------- applying


def import_document(org: Organization, document: Any) -> ImportReport:
    """Apply `document` to `org` (see the module docstring). Raises DocumentInvalid, changing nothing."""
    plan = check_document(org, document)
    report = ImportReport()
    with transaction.atomic():
        apply_settings(org, plan.settings, report)
        apply_roles(org, plan.roles, report)
        apply_sources(org, plan.sources, report)
        apply_mailboxes(org, plan.mailboxes, report)
        autoresponse_document.apply_templates(
            org, plan.templates, report.created.append, report.updated.append
        )
        autoresponse_document.apply_rules(org, plan.rules, report.created.append, report.updated.append)
    return report


def apply_settings(org: Organization, settings: dict[str, Any], report: ImportReport) -> None:
    current = config.overrides(org)
    for key, value in settings.items():
        if key not in current or current[key] != value:
            config.set_value(key, value, org)
            report.updated.append(f"setting {key}")
    report.left_alone += [f"setting {key}" for key in sorted(set(current) - set(settings))]


def apply_roles(org: Organization, roles: list[dict[str, Any]], report: ImportReport) -> None:
    existing = {role.name.lower(): role for role in Role.objects.filter(organization=org)}
    for spec in roles:
        wanted = {
            "name": spec["name"].strip(),
            "description": spec.get("description", "").strip(),
            "can_configure": spec.get("can_configure", False),
        }
        role = existing.pop(wanted["name"].lower(), None)
        if role is None:
            Role.objects.create(organization=org, **wanted)
            report.created.append(f"role {wanted['name']}")
        elif changes := update_fields(role, wanted):
            report.updated.append(f"role {role.name} ({', '.join(changes)})")
    report.left_alone += [f"role {role.name}" for role in sorted(existing.values(), key=lambda r: r.name)]


def apply_sources(org: Organization, sources: list[dict[str, Any]], report: ImportReport) -> None:
    existing = {source.key: source for source in LeadSource.objects.filter(organization=org)}
    try:
        with transaction.atomic():
            for spec in sources:
                wanted = {
                    "label": spec["label"].strip(),
                    "position": spec.get("position", 0),
                    "retired": spec.get("retired", False),
                }
                source = existing.pop(spec["key"], None)
                if source is None:
                    LeadSource.objects.create(organization=org, key=spec["key"], **wanted)
                    report.created.append(f"lead source {spec['key']}")
                elif changes := update_fields(source, wanted):
                    report.updated.append(f"lead source {source.key} ({', '.join(changes)})")
    except IntegrityError:
        # Only a label clash with a lead source the document leaves out can get here.
        raise DocumentInvalid([("lead_sources", "a label is already used by another lead source")]) from None
    report.left_alone += [f"lead source {key}" for key in sorted(existing)]


def update_fields(instance: Role | LeadSource, wanted: dict[str, Any]) -> list[str]:
    """Set the fields that differ, save them, and return their names."""
    changes = [name for name, value in wanted.items() if getattr(instance, name) != value]
    for name in changes:
        setattr(instance, name, wanted[name])
    if changes:
        instance.save(update_fields=changes)
    return changes


def apply_mailboxes(org: Organization, mailboxes: list[dict[str, Any]], report: ImportReport) -> None:
    existing = {mailbox.email.lower(): mailbox for mailbox in Mailbox.objects.filter(organization=org)}
    refs = References.of(org)
    errors: list[tuple[str, str]] = []
    for index, spec in enumerate(mailboxes):
        path = join("mailboxes", index)
        instance = existing.pop(spec["email"].strip().lower(), None) or Mailbox(organization=org)
        state = merged(export_mailbox(instance), spec)
        form = MailboxForm(
            data=refs.form_data(state), instance=instance, organization=org, require_password=False
        )
        if not form.is_valid():
            errors += [
                (join(path, FORM_FIELD_PATHS[f]) if f else path, message) for f, message in form_errors(form)
            ]
            continue
        created, changed = instance.pk is None, form.changed_data
        if created or changed:
            mailbox = form.save()
            what = f"mailbox {mailbox.email}"
            if created:
                report.created.append(what)
            else:
                report.updated.append(f"{what} ({', '.join(FORM_FIELD_PATHS.get(f, f) for f in changed)})")
        if not form.instance.has_password and (form.instance.imap_enabled or form.instance.smtp_enabled):
            report.password_needed.append(f"mailbox {form.instance.email}")
    if errors:
        raise DocumentInvalid(errors)  # rolls back everything applied so far
    report.left_alone += [f"mailbox {email}" for email in sorted(existing)]


def form_errors(form: forms.BaseForm) -> Iterator[tuple[str, str]]:
    for name, messages in form.errors.items():
        for message in messages:
            yield ("" if name == "__all__" else name), str(message)


def merged(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """`base` with the document's values on top, one level deep for the nested sections, so a document
    may leave out what it does not want to change.
    """
    result = dict(base)
    for key, value in overlay.items():
        result[key] = {**base[key], **value} if isinstance(base.get(key), dict) else value
    return result


@dataclass
class References:
    """The organization's users, roles and lead sources by the names a document uses."""

    users: dict[str, User]
    roles: dict[str, Role]
    sources: dict[str, LeadSource]

    @classmethod
    def of(cls, org: Organization) -> References:
        return cls(
            users={user.email.lower(): user for user in organization_users(org)},
            roles={role.name.lower(): role for role in Role.objects.filter(organization=org)},
            sources={source.key: source for source in LeadSource.objects.filter(organization=org)},
        )

    def user_id(self, email: str | None) -> int | None:
        return self.users[email.strip().lower()].pk if email else None

    def form_data(self, state: dict[str, Any]) -> dict[str, Any]:
        """MailboxForm input, as a browser would post it, from one (merged) mailbox entry."""
        imap, smtp, processing, access = state["imap"], state["smtp"], state["processing"], state["access"]
        source = processing["source"]
        return {
            "label": state["label"],
            "email": state["email"].strip().lower(),
            "imap_enabled": imap["enabled"],
            "imap_host": imap["host"],
            "imap_port": imap["port"],
            "imap_encryption": imap["encryption"],
            "smtp_enabled": smtp["enabled"],
            "smtp_host": smtp["host"],
            "smtp_port": smtp["port"],
            "smtp_encryption": smtp["encryption"],
            "username": state["user"],
            "password": "",
            "verify_tls": state["verify_tls"],
            "sync_since": state["sync_since"] or "",
            "process_type": processing["type"],
            "owner": self.user_id(processing["owner"]),
            "lead_source": self.sources[source].pk if source else None,
            "case_assignee": self.user_id(processing["assign_to"]),
            "case_status": processing["status"],
            "case_priority": processing["priority"],
            "access_roles": [self.roles[name.strip().lower()].pk for name in access["roles"]],
            "access_users": [self.users[email.strip().lower()].pk for email in access["users"]],
        }
