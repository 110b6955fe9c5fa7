"""The JSON shapes of the API. Inputs forbid unknown fields, so a typo is a 422 rather than silently
ignored. No output schema has a field for a secret: a mailbox says only whether it `has_password`.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ninja import Schema
from pydantic import ConfigDict, Field

from postroom.mailboxes.models import CasePriority, CaseStatus, Encryption, ProcessType


class Input(Schema):
    model_config = ConfigDict(extra="forbid")


# Errors ----------------------------------------------------------------------------------------------


class ErrorOut(Schema):
    detail: str


class ValidationErrorOut(Schema):
    detail: str
    errors: dict[str, list[str]] = Field(description='Messages per field; "__all__" for the whole input.')


def responses(
    ok: dict[int, Any],
    *,
    tenant: bool = True,
    forbidden: bool = True,
    validation: bool = False,
    conflict: bool = False,
) -> dict[int, Any]:
    """An operation's documented responses: its success plus every error it can answer. `tenant`: the
    operation is inside an organization (404 for outsiders and bad ids); `forbidden`: a permission applies.
    """
    documented: dict[int, Any] = {**ok, 401: ErrorOut}
    if forbidden:
        documented[403] = ErrorOut
    if tenant:
        documented[404] = ErrorOut
    if validation:
        documented[422] = ValidationErrorOut
    if conflict:
        documented[409] = ErrorOut
    return documented


# People and organizations ----------------------------------------------------------------------------


class MyOrgOut(Schema):
    id: int
    slug: str
    name: str
    is_admin: bool = Field(description="The caller administers this organization.")
    can_configure: bool = Field(description="The caller may configure mailboxes, lead sources, settings.")


class MeOut(Schema):
    id: int
    email: str
    full_name: str
    is_platform_admin: bool
    organizations: list[MyOrgOut]


class OrgIn(Input):
    slug: str = Field(description="1-50 lowercase letters, digits and dashes.")
    name: str


class RoleOut(Schema):
    id: int
    name: str
    description: str
    can_configure: bool


class RoleIn(Input):
    name: str
    description: str = ""
    can_configure: bool = False


class RolePatch(Input):
    name: str | None = None
    description: str | None = None
    can_configure: bool | None = None


class MemberOut(Schema):
    user_id: int
    email: str
    full_name: str
    is_admin: bool
    roles: list[int] = Field(description="Role ids of this organization.")


class MemberIn(Input):
    email: str
    full_name: str = ""
    password: str | None = Field(
        default=None,
        json_schema_extra={"writeOnly": True},
        description="Only for a new user; checked by the password validators. Without it the new user "
        "cannot log in until a password is set.",
    )
    roles: list[int] = []
    is_admin: bool = False


class MemberPatch(Input):
    roles: list[int] | None = None
    is_admin: bool | None = None


# Mailboxes -------------------------------------------------------------------------------------------


class MailboxOut(Schema):
    id: int
    label: str
    email: str
    imap_enabled: bool
    imap_host: str
    imap_port: int
    imap_encryption: Encryption
    smtp_enabled: bool
    smtp_host: str
    smtp_port: int
    smtp_encryption: Encryption
    username: str
    has_password: bool = Field(description="A password is stored. The password itself is never returned.")
    verify_tls: bool
    sync_since: date | None
    process_type: ProcessType
    processing_enabled_at: datetime | None
    owner: int | None = Field(description="User id.")
    lead_source: int | None = Field(description="Lead source id.")
    case_assignee: int | None = Field(description="User id.")
    case_status: CaseStatus
    case_priority: CasePriority
    access_roles: list[int] = Field(description="Role ids.")
    access_users: list[int] = Field(description="User ids.")
    created_at: datetime
    updated_at: datetime


_WRITE_ONLY_HELP = "Write-only. Absent or empty keeps the stored password."


class MailboxPatch(Input):
    """Fields to change; the others keep their current values. The whole result is then checked by the
    same form as the web UI."""

    label: str | None = None
    email: str | None = None
    imap_enabled: bool | None = None
    imap_host: str | None = None
    imap_port: int | None = None
    imap_encryption: Encryption | None = None
    smtp_enabled: bool | None = None
    smtp_host: str | None = None
    smtp_port: int | None = None
    smtp_encryption: Encryption | None = None
    username: str | None = None
    password: str | None = Field(
        default=None, json_schema_extra={"writeOnly": True}, description=_WRITE_ONLY_HELP
    )
    verify_tls: bool | None = None
    sync_since: date | None = None
    process_type: ProcessType | None = None
    owner: int | None = None
    lead_source: int | None = None
    case_assignee: int | None = None
    case_status: CaseStatus | None = None
    case_priority: CasePriority | None = None
    access_roles: list[int] | None = None
    access_users: list[int] | None = None


class MailboxIn(MailboxPatch):
    """A new mailbox; omitted fields take the form's defaults (IMAP on port 993 with SSL/TLS...)."""

    label: str
    email: str


# Lead sources and settings ---------------------------------------------------------------------------


class LeadSourceOut(Schema):
    id: int
    key: str = Field(description="Derived from the label on creation; never changes.")
    label: str
    position: int
    retired: bool


class LeadSourceIn(Input):
    label: str


class LeadSourcePatch(Input):
    label: str | None = None
    position: int | None = Field(default=None, ge=0, description="0-based place in the list; others shift.")
    retired: bool | None = None


class ChoiceOut(Schema):
    value: str
    label: str


class SettingOut(Schema):
    key: str
    label: str
    section: str
    help: str
    value: int | str = Field(description="The value in force for this organization.")
    global_value: int | str
    overridden: bool = Field(description="False means the organization uses the global value.")
    choices: list[ChoiceOut]


class SettingValueIn(Input):
    value: int | str
