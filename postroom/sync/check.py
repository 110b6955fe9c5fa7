"""Check Connection/Retrieve Folders (M3), and saving the admin's choice of folders.

`check_connection(mailbox)` tries IMAP (connect, TLS, LOGIN, CAPABILITY, LIST) and, when enabled, SMTP
(connect, EHLO, TLS, AUTH) within one time budget, and reports each side's outcome in words an admin can
act on. It never raises for a server problem: failures are part of the result.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction
from django.utils import timezone

from postroom.crypto import SecretUnreadable
from postroom.mailboxes.models import Mailbox
from postroom.sync import imap, net, smtp
from postroom.sync.errors import MailServerError, scrub
from postroom.sync.folders import FolderNode, build_tree, flatten, tree_order
from postroom.sync.models import Folder

logger = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 15.0
VERIFY_OFF_WARNING = (
    "Certificate verification is off for this mailbox: anyone between Postroom and the {service} server "
    "could read the mail and the password."
)


@dataclass
class ImapOutcome:
    ok: bool
    error_code: str = ""
    error_message: str = ""
    capabilities: list[str] = field(default_factory=list)
    folders: list[FolderNode] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "error": _error_dict(self.error_code, self.error_message),
            "capabilities": list(self.capabilities),
            "folders": [node.to_dict() for node in self.folders],
        }


@dataclass
class SmtpOutcome:
    ok: bool
    error_code: str = ""
    error_message: str = ""
    auth_mechanisms: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "error": _error_dict(self.error_code, self.error_message),
            "auth_mechanisms": list(self.auth_mechanisms),
        }


@dataclass
class CheckResult:
    """`imap` / `smtp` are None when that protocol is not enabled for the mailbox."""

    imap: ImapOutcome | None = None
    smtp: SmtpOutcome | None = None
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (self.imap is None or self.imap.ok) and (self.smtp is None or self.smtp.ok)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "imap": self.imap.to_dict() if self.imap else None,
            "smtp": self.smtp.to_dict() if self.smtp else None,
            "warnings": list(self.warnings),
        }


def imap_of(result: CheckResult) -> ImapOutcome:
    """The IMAP side of a check of a mailbox that has IMAP enabled."""
    if result.imap is None:
        raise ValueError("IMAP is not enabled for this mailbox")
    return result.imap


def _error_dict(code: str, message: str) -> dict[str, str] | None:
    return {"code": code, "message": message} if code else None


def imap_endpoint(mailbox: Mailbox) -> net.Endpoint:
    return net.Endpoint(
        "IMAP",
        mailbox.imap_host,
        mailbox.imap_port,
        mailbox.imap_encryption,
        mailbox.verify_tls,
        mailbox.username,
        mailbox.get_password(),
    )


def smtp_endpoint(mailbox: Mailbox) -> net.Endpoint:
    return net.Endpoint(
        "SMTP",
        mailbox.smtp_host,
        mailbox.smtp_port,
        mailbox.smtp_encryption,
        mailbox.verify_tls,
        mailbox.username,
        mailbox.get_password(),
    )


def check_connection(mailbox: Mailbox, timeout: float = DEFAULT_TIMEOUT) -> CheckResult:
    """Check IMAP and (if enabled) SMTP of `mailbox` within `timeout` seconds in total. With SMTP on,
    IMAP may use at most two thirds of the budget, so a hanging IMAP server cannot starve the SMTP check."""
    total = net.Deadline(timeout)
    try:
        mailbox.get_password()
    except SecretUnreadable as exc:
        return _unreadable_password(mailbox, str(exc))
    result = CheckResult()
    if mailbox.imap_enabled:
        imap_budget = timeout * 2 / 3 if mailbox.smtp_enabled else timeout
        result.imap = check_imap(imap_endpoint(mailbox), net.Deadline(imap_budget))
    if mailbox.smtp_enabled:
        result.smtp = check_smtp(smtp_endpoint(mailbox), net.Deadline(_left(total)))
    if not mailbox.verify_tls:
        services = "IMAP/SMTP" if mailbox.smtp_enabled else "IMAP"
        result.warnings.append(VERIFY_OFF_WARNING.format(service=services))
    return result


def _unreadable_password(mailbox: Mailbox, reason: str) -> CheckResult:
    """The stored password cannot be decrypted (its key was removed): no connection is attempted."""
    message = f"The stored password cannot be read ({reason}). Enter the password again and save."
    result = CheckResult()
    if mailbox.imap_enabled:
        result.imap = ImapOutcome(ok=False, error_code="secret_unreadable", error_message=message)
    if mailbox.smtp_enabled:
        result.smtp = SmtpOutcome(ok=False, error_code="secret_unreadable", error_message=message)
    return result


def _left(deadline: net.Deadline) -> float:
    try:
        return deadline.remaining()
    except MailServerError:
        return 0.001  # spent: the SMTP check then reports a timeout instead of being skipped


def check_imap(endpoint: net.Endpoint, deadline: net.Deadline) -> ImapOutcome:
    try:
        with imap.connect(endpoint, deadline) as connection:
            capabilities = connection.capabilities()
            tree = build_tree(connection.list_folders())
    except MailServerError as exc:
        code, message = _failure("IMAP", exc, endpoint)
        return ImapOutcome(ok=False, error_code=code, error_message=message)
    return ImapOutcome(ok=True, capabilities=capabilities, folders=tree)


def check_smtp(endpoint: net.Endpoint, deadline: net.Deadline) -> SmtpOutcome:
    try:
        with smtp.connect(endpoint, deadline) as connection:
            mechanisms = connection.auth_mechanisms()
    except MailServerError as exc:
        code, message = _failure("SMTP", exc, endpoint)
        return SmtpOutcome(ok=False, error_code=code, error_message=message)
    return SmtpOutcome(ok=True, auth_mechanisms=mechanisms)


def _failure(service: str, exc: MailServerError, endpoint: net.Endpoint) -> tuple[str, str]:
    message = scrub(exc.message, endpoint.password)  # belt and braces: messages are built password-free
    logger.info("%s check of %s:%s failed: %s", service, endpoint.host, endpoint.port, exc.code)
    return exc.code, message


def folder_summary(folder: Folder) -> dict[str, Any]:
    """A stored folder as the CLI, the API and the web UI show it."""
    return {
        "name": folder.name,
        "display_name": folder.display_name,
        "parent_name": folder.parent_name,
        "delimiter": folder.delimiter,
        "kind": folder.kind,
        "flags": list(folder.flags),
        "selectable": folder.selectable,
        "selected": folder.selected,
        "exists_on_server": folder.exists_on_server,
    }


def stored_folders(mailbox: Mailbox) -> list[Folder]:
    return tree_order(Folder.objects.filter(mailbox=mailbox))


class UnknownFolders(ValueError):
    """`select_folders` was given names the mailbox does not have."""

    def __init__(self, unknown: list[str], valid: list[str]) -> None:
        self.unknown = unknown
        self.valid = valid
        listing = ", ".join(valid) or "none yet (run Check Connection/Retrieve Folders first)"
        super().__init__(f"Unknown folder(s): {', '.join(unknown)}. Valid folders: {listing}.")


@transaction.atomic
def save_folders(mailbox: Mailbox, tree: list[FolderNode]) -> list[Folder]:
    """Upsert the server's folders. Keeps each folder's `selected` and sync state; folders no longer on
    the server are marked `exists_on_server=False` and kept (their mail must not be lost)."""
    now = timezone.now()
    existing = {folder.name: folder for folder in Folder.objects.select_for_update().filter(mailbox=mailbox)}
    seen: list[Folder] = []
    for node in flatten(tree):
        folder = existing.pop(node.name, None) or Folder(
            organization_id=mailbox.organization_id, mailbox=mailbox, name=node.name
        )
        folder.display_name = node.display_name
        folder.delimiter = node.delimiter or ""
        folder.parent_name = node.parent_name or ""
        folder.flags = list(node.flags)
        folder.kind = node.kind
        folder.selectable = node.selectable
        folder.exists_on_server = True
        folder.last_seen_at = now
        folder.save()
        seen.append(folder)
    Folder.objects.filter(pk__in=[f.pk for f in existing.values()]).update(exists_on_server=False)
    return seen


@transaction.atomic
def select_folders(mailbox: Mailbox, names: list[str]) -> list[Folder]:
    """Tick exactly `names` (raw or display names) for sync and untick the rest. Unknown names raise
    UnknownFolders listing the valid ones; nothing requires a Sent folder."""
    folders = list(Folder.objects.select_for_update().filter(mailbox=mailbox, exists_on_server=True))
    by_name = {f.name: f for f in folders} | {f.display_name: f for f in folders if f.selectable}
    unknown = [name for name in names if name not in by_name or not by_name[name].selectable]
    if unknown:
        raise UnknownFolders(unknown, sorted(f.display_name for f in folders if f.selectable))
    chosen = {by_name[name].pk for name in names}
    Folder.objects.filter(mailbox=mailbox).update(selected=False)
    Folder.objects.filter(pk__in=chosen).update(selected=True)
    return [f for f in Folder.objects.filter(pk__in=chosen).order_by("display_name")]
