"""Check Connection/Retrieve Folders and the choice of folders to sync, over JSON.

The check connects with the mailbox's stored settings and stores the retrieved folder tree (the web form,
which checks unsaved values, carries the tree until Save Settings instead). Choosing folders needs a tree
retrieved earlier.
"""

from __future__ import annotations

from django.db import transaction
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema

from postroom.api.errors import FieldErrors
from postroom.api.schemas import Input, responses
from postroom.api.tenancy import open_org
from postroom.mailboxes.models import Mailbox
from postroom.sync.check import (
    UnknownFolders,
    check_connection,
    folder_summary,
    save_folders,
    select_folders,
    stored_folders,
)

router = Router(tags=["folders"])


class CheckErrorOut(Schema):
    code: str = Field(
        description="host_not_found, connection_refused, timeout, tls_failed, certificate_invalid, "
        "login_failed, missing_capability, protocol_error, not_allowed or secret_unreadable."
    )
    message: str = Field(description="What went wrong, in words an admin can act on.")


class ImapCheckOut(Schema):
    ok: bool
    error: CheckErrorOut | None
    capabilities: list[str]


class SmtpCheckOut(Schema):
    ok: bool
    error: CheckErrorOut | None
    auth_mechanisms: list[str]


class FolderOut(Schema):
    name: str = Field(description="The server's name (modified UTF-7), as `sync` takes it.")
    display_name: str
    parent_name: str
    delimiter: str
    kind: str = Field(description="inbox, sent, drafts, trash, spam, archive or other.")
    flags: list[str]
    selectable: bool
    selected: bool = Field(description="Ticked: this folder syncs.")
    exists_on_server: bool


class CheckOut(Schema):
    ok: bool
    imap: ImapCheckOut | None = Field(description="Absent when IMAP is not enabled.")
    smtp: SmtpCheckOut | None = Field(description="Absent when SMTP is not enabled.")
    warnings: list[str]
    folders: list[FolderOut] = Field(description="The stored folder tree after this check.")


class FolderChoiceIn(Input):
    sync: list[str] = Field(description="Exactly the folders to sync (names or display names).")


def _mailbox(request: HttpRequest, slug: str, mailbox_id: int) -> Mailbox:
    access = open_org(request, slug, "configure")
    return get_object_or_404(Mailbox, pk=mailbox_id, organization=access.organization)


def _folders(mailbox: Mailbox) -> list[FolderOut]:
    return [FolderOut(**folder_summary(folder)) for folder in stored_folders(mailbox)]


@router.post(
    "/orgs/{slug}/mailboxes/{mailbox_id}/check",
    response=responses({200: CheckOut}),
    summary="Check Connection/Retrieve Folders (bounded to about 15 seconds)",
)
def check(request: HttpRequest, slug: str, mailbox_id: int) -> CheckOut:
    mailbox = _mailbox(request, slug, mailbox_id)
    result = check_connection(mailbox)
    if result.imap is not None and result.imap.ok:
        save_folders(mailbox, result.imap.folders)
    document = result.to_dict()
    return CheckOut(
        ok=result.ok,
        imap=document["imap"],
        smtp=document["smtp"],
        warnings=result.warnings,
        folders=_folders(mailbox),
    )


@router.get(
    "/orgs/{slug}/mailboxes/{mailbox_id}/folders",
    response=responses({200: list[FolderOut]}),
    summary="The mailbox's folders as last retrieved, with the ones that sync",
)
def list_folders(request: HttpRequest, slug: str, mailbox_id: int) -> list[FolderOut]:
    return _folders(_mailbox(request, slug, mailbox_id))


@router.put(
    "/orgs/{slug}/mailboxes/{mailbox_id}/folders",
    response=responses({200: list[FolderOut]}, validation=True),
    summary="Choose the folders to sync (all others stop syncing; nothing is deleted)",
)
def choose_folders(
    request: HttpRequest, slug: str, mailbox_id: int, payload: FolderChoiceIn
) -> list[FolderOut]:
    mailbox = _mailbox(request, slug, mailbox_id)
    try:
        with transaction.atomic():
            select_folders(mailbox, payload.sync)
    except UnknownFolders as exc:
        raise FieldErrors.single("sync", str(exc)) from None
    return _folders(mailbox)
