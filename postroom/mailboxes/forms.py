"""The System Mailbox form of the seed, section by section. The web UI, the API and the command line all
validate through this one form, so a rule cannot hold in one place and not in another.
"""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from postroom.accounts.models import User
from postroom.audit.recorder import batch as audit_batch
from postroom.crm.models import LeadSource
from postroom.mailboxes.models import Mailbox, ProcessType
from postroom.organizations.models import Organization, Role

_HOST = re.compile(r"^(?=.{1,253}$)(?!-)[A-Za-z0-9-]{1,63}(?<!-)(?:\.(?!-)[A-Za-z0-9-]{1,63}(?<!-))*\.?$")
_IPV6 = re.compile(r"^\[?[0-9A-Fa-f:.]+\]?$")

SECTIONS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("General", ("label", "email")),
    (
        "Synchronization Settings",
        (
            "imap_enabled",
            "imap_host",
            "imap_port",
            "imap_encryption",
            "smtp_enabled",
            "smtp_host",
            "smtp_port",
            "smtp_encryption",
            "username",
            "password",
            "verify_tls",
            "sync_since",
        ),
    ),
    (
        "Email Processing",
        ("process_type", "owner", "lead_source", "case_assignee", "case_status", "case_priority"),
    ),
    ("Access Management", ("access_roles", "access_users")),
)


def is_hostname(value: str) -> bool:
    return bool(_HOST.match(value) or (":" in value and _IPV6.match(value)))


def organization_users(organization: Organization) -> Any:
    return User.objects.filter(memberships__organization=organization, is_active=True).distinct()


class MailboxForm(forms.ModelForm[Mailbox]):
    password = forms.CharField(
        label="Password",
        required=False,
        strip=False,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
    )

    class Meta:
        model = Mailbox
        fields = [
            "label",
            "email",
            "imap_enabled",
            "imap_host",
            "imap_port",
            "imap_encryption",
            "smtp_enabled",
            "smtp_host",
            "smtp_port",
            "smtp_encryption",
            "username",
            "verify_tls",
            "sync_since",
            "process_type",
            "owner",
            "lead_source",
            "case_assignee",
            "case_status",
            "case_priority",
            "access_roles",
            "access_users",
        ]
        widgets = {
            # Both selects are labelled "Encryption" as in the seed; screen readers need to tell them apart.
            "imap_encryption": forms.Select(attrs={"aria-label": "IMAP Encryption"}),
            "smtp_encryption": forms.Select(attrs={"aria-label": "SMTP Encryption"}),
            "sync_since": forms.DateInput(attrs={"type": "date"}),
            "access_roles": forms.CheckboxSelectMultiple,
            "access_users": forms.CheckboxSelectMultiple,
            "process_type": forms.RadioSelect,
        }

    def __init__(
        self, *args: Any, organization: Organization, require_password: bool = True, **kwargs: Any
    ) -> None:
        """`require_password=False` lets a mailbox be saved without a password (config import creates
        mailboxes whose password an admin sets afterwards); every other rule still applies.
        """
        super().__init__(*args, **kwargs)
        self.organization = organization
        self.require_password = require_password
        members = organization_users(organization)
        # Every choice is limited to this organization: a posted id from another one is invalid.
        self.fields["owner"].queryset = members  # type: ignore[attr-defined]
        self.fields["case_assignee"].queryset = members  # type: ignore[attr-defined]
        self.fields["access_users"].queryset = members  # type: ignore[attr-defined]
        self.fields["access_roles"].queryset = Role.objects.filter(  # type: ignore[attr-defined]
            organization=organization
        )
        # Retired sources are not offered, but a mailbox keeps the one it already has.
        current_source = self.instance.lead_source_id if self.instance.pk else None
        self.fields["lead_source"].queryset = LeadSource.objects.filter(  # type: ignore[attr-defined]
            Q(retired=False) | Q(pk=current_source), organization=organization
        )
        # Only a stored password can be kept; on a new mailbox the hint would be wrong.
        if self.instance.pk and self.instance.has_password:
            self.fields["password"].help_text = "A password is stored. Leave empty to keep it."

    def clean_label(self) -> str:
        label: str = self.cleaned_data["label"].strip()
        clash = Mailbox.objects.filter(organization=self.organization, label__iexact=label)
        if clash.exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("This organization already has a mailbox with this label.")
        return label

    def clean_email(self) -> str:
        email: str = self.cleaned_data["email"].strip().lower()
        clash = Mailbox.objects.filter(organization=self.organization, email__iexact=email)
        if clash.exclude(pk=self.instance.pk).exists():
            raise forms.ValidationError("This organization already has a mailbox with this address.")
        return email

    def _clean_host(self, field: str) -> None:
        host = (self.cleaned_data.get(field) or "").strip()
        self.cleaned_data[field] = host
        if not host:
            self.add_error(field, "Enter the server's host name.")
        elif not is_hostname(host):
            self.add_error(field, "Enter a host name such as imap.example.com, or an IP address.")

    def _clean_port(self, field: str) -> None:
        port = self.cleaned_data.get(field)
        if port is not None and not 1 <= port <= 65535:
            self.add_error(field, "Enter a port between 1 and 65535.")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("imap_enabled"):
            self._clean_host("imap_host")
            self._clean_port("imap_port")
        if data.get("smtp_enabled"):
            self._clean_host("smtp_host")
            self._clean_port("smtp_port")
        if data.get("imap_enabled") or data.get("smtp_enabled"):
            if not (data.get("username") or "").strip():
                self.add_error("username", "Enter the user name the server expects.")
            if self.require_password and not data.get("password") and not self.instance.has_password:
                self.add_error("password", "Enter the password for this account.")
        self._clean_processing(data)
        return data

    def _clean_processing(self, data: dict[str, Any]) -> None:
        process = data.get("process_type")
        if process in (ProcessType.LEAD, ProcessType.CASE) and not data.get("owner"):
            self.add_error("owner", "Choose the user who will own the new records.")
        if process == ProcessType.LEAD and not data.get("lead_source"):
            self.add_error("lead_source", "Choose the source new leads get.")

    def save(self, commit: bool = True) -> Mailbox:
        mailbox = super().save(commit=False)
        mailbox.organization = self.organization
        if self.cleaned_data.get("password"):
            mailbox.set_password(self.cleaned_data["password"])
        was_processing = self.initial.get("process_type", ProcessType.NONE) != ProcessType.NONE
        if mailbox.process_type == ProcessType.NONE:
            mailbox.processing_enabled_at = None
        elif not (was_processing and mailbox.processing_enabled_at):
            # Only mail received from now on converts; history is never turned into leads or cases.
            mailbox.processing_enabled_at = timezone.now()
        if commit:
            # One transaction and one audit entry for the mailbox and its access lists.
            with transaction.atomic(), audit_batch():
                mailbox.save()
                self.save_m2m()
        return mailbox

    def changed_fields(self) -> list[str]:
        """Changed field names, with the password reported only as changed (never its value)."""
        changed = [name for name in self.changed_data if name != "password"]
        if self.cleaned_data.get("password"):
            changed.append("password")
        return changed
