"""Configuration scopes: a value is read from the organization's override, else the global default set
by a platform admin, else the default written here. Each setting is declared once, with its label, so
forms, the quick search and the config document all describe it the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db import transaction

from postroom.audit.recorder import batch as audit_batch
from postroom.audit.recorder import watch
from postroom.organizations.models import ConfigValue, Organization


@dataclass(frozen=True)
class Setting:
    key: str
    label: str
    section: str
    default: Any
    kind: type
    help: str = ""
    minimum: int | None = None
    maximum: int | None = None
    choices: tuple[tuple[str, str], ...] = ()


SETTINGS: tuple[Setting, ...] = (
    Setting(
        key="email.sync_interval_minutes",
        label="Synchronization interval (minutes)",
        section="Email Configuration",
        default=1,
        kind=int,
        help="How often each system mailbox is checked for new mail.",
        minimum=1,
        maximum=1440,
    ),
    Setting(
        key="email.autoresponse_limit_hours",
        label="Auto-response limit per sender (hours)",
        section="Email Configuration",
        default=24,
        kind=int,
        help="At most one automatic reply per sender and mailbox in this many hours (RFC 3834).",
        minimum=0,
        maximum=24 * 30,
    ),
    Setting(
        key="email.default_language",
        label="Default language",
        section="Email Configuration",
        default="en",
        kind=str,
        help="Language of automatic replies when the sender's language is unknown.",
        choices=(
            ("en", "English"),
            ("de", "German"),
            ("fr", "French"),
            ("es", "Spanish"),
            ("it", "Italian"),
            ("nl", "Dutch"),
            ("pt", "Portuguese"),
            ("pl", "Polish"),
        ),
    ),
)

BY_KEY = {setting.key: setting for setting in SETTINGS}


class UnknownSetting(KeyError):
    """No setting with that key is declared."""


def setting(key: str) -> Setting:
    try:
        return BY_KEY[key]
    except KeyError:
        raise UnknownSetting(key) from None


def clean_value(key: str, raw: Any) -> Any:
    """Coerce and check a value for `key`; raises ValueError with a message fit for the admin."""
    decl = setting(key)
    if decl.kind is int:
        try:
            value: Any = int(raw)
        except (TypeError, ValueError):
            raise ValueError(f"{decl.label}: enter a whole number") from None
        if decl.minimum is not None and value < decl.minimum:
            raise ValueError(f"{decl.label}: must be at least {decl.minimum}")
        if decl.maximum is not None and value > decl.maximum:
            raise ValueError(f"{decl.label}: must be at most {decl.maximum}")
        return value
    value = str(raw).strip()
    if decl.choices and value not in {code for code, _ in decl.choices}:
        raise ValueError(f"{decl.label}: {value!r} is not one of the choices")
    return value


def global_value(key: str) -> Any:
    row = ConfigValue.objects.filter(organization__isnull=True, key=key).first()
    return row.value if row is not None else setting(key).default


def get(key: str, organization: Organization | None = None) -> Any:
    """The value in force for `organization` (or the global value when it is None)."""
    if organization is not None:
        row = ConfigValue.objects.filter(organization=organization, key=key).first()
        if row is not None:
            return row.value
    return global_value(key)


def overrides(organization: Organization) -> dict[str, Any]:
    """The organization's own values only (a key absent here uses the global value)."""
    return dict(ConfigValue.objects.filter(organization=organization).values_list("key", "value"))


def set_value(key: str, value: Any, organization: Organization | None = None) -> None:
    cleaned = clean_value(key, value)
    with transaction.atomic(), audit_batch():
        for current in ConfigValue.objects.filter(organization=organization, key=key):
            watch(current)  # update() sends no signal: tell the audit log what the value was
        updated = ConfigValue.objects.filter(organization=organization, key=key).update(value=cleaned)
        if not updated:
            ConfigValue.objects.create(organization=organization, key=key, value=cleaned)


def use_global(key: str, organization: Organization) -> None:
    """Drop the organization's override so the global value applies again."""
    setting(key)
    ConfigValue.objects.filter(organization=organization, key=key).delete()
