"""Helpers for the processing tests: a mailbox with Convert To Lead/Case switched on, folders of each kind,
and "mail arrives" = store + place + record the jobs, as the sync engine does in one batch transaction."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction

from postroom.accounts.models import User
from postroom.crm.models import Case, Lead, LeadSource
from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.messages.store import store_messages
from postroom.organizations.models import Organization
from postroom.processing.intake import record_new_placements
from postroom.processing.models import InboundJob
from postroom.processing.runner import run_due_jobs
from postroom.sync.models import Folder, Placement
from tests.factories import make_lead_source, make_mailbox
from tests.mailbuilder import build

ENABLED_AT = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
AFTER = ENABLED_AT + timedelta(hours=1)  # an INTERNALDATE after processing was enabled
BEFORE = ENABLED_AT - timedelta(days=1)
_uids = itertools.count(1)


def lead_mailbox(
    org: Organization, owner: User, label: str = "Sales", source: LeadSource | None = None, **extra: Any
) -> Mailbox:
    fields: dict[str, Any] = {
        "process_type": "lead",
        "owner": owner,
        "lead_source": source or make_lead_source(org, f"Email {label}"),
        "processing_enabled_at": ENABLED_AT,
    }
    return make_mailbox(org, label, **(fields | extra))


def case_mailbox(org: Organization, owner: User, label: str = "Support", **extra: Any) -> Mailbox:
    fields: dict[str, Any] = {
        "process_type": "case",
        "owner": owner,
        "case_status": "in_progress",
        "case_priority": "high",
        "processing_enabled_at": ENABLED_AT,
    }
    return make_mailbox(org, label, **(fields | extra))


def folder_of(mailbox: Mailbox, name: str = "INBOX", kind: str = "inbox") -> Folder:
    found, _ = Folder.objects.get_or_create(
        mailbox=mailbox,
        name=name,
        defaults={"organization": mailbox.organization, "display_name": name, "kind": kind, "selected": True},
    )
    return found


def arrive(
    mailbox: Mailbox,
    raws: Sequence[bytes],
    folder: str = "INBOX",
    kind: str = "inbox",
    when: datetime = AFTER,
) -> list[Message]:
    """Messages arriving in `folder` of `mailbox` the way a sync batch stores them: messages, placements
    and jobs in one transaction. Returns the stored messages in order."""
    target = folder_of(mailbox, folder, kind)
    with transaction.atomic():
        stored = store_messages(mailbox.organization, list(raws))
        placements = [
            Placement(
                organization=mailbox.organization,
                mailbox=mailbox,
                folder=target,
                uid=next(_uids),
                message_id=s.message_id,
                internal_date=when,
            )
            for s in stored
        ]
        Placement.objects.bulk_create(placements, ignore_conflicts=True)
        record_new_placements(placements)
    return [Message.objects.get(pk=s.message_id) for s in stored]


def process(now: datetime | None = None) -> int:
    """Run every due job, as the sweeper does; returns how many ran."""
    return run_due_jobs(now=now)


def job_of(mailbox: Mailbox, message: Message) -> InboundJob:
    return InboundJob.objects.get(mailbox=mailbox, message=message)


_labels = itertools.count(1)


def converted_lead(org: Organization, owner: User, **mail: Any) -> Lead:
    """A lead made the real way: a message arrives in a fresh Convert To Lead mailbox and is processed."""
    mailbox = lead_mailbox(org, owner, label=f"Leads {next(_labels)}")
    [message] = arrive(mailbox, [build(**mail)])
    process()
    return Lead.objects.get(message=message)


def converted_case(org: Organization, owner: User, **mail: Any) -> Case:
    """A case made the real way, like `converted_lead`."""
    mailbox = case_mailbox(org, owner, label=f"Cases {next(_labels)}")
    [message] = arrive(mailbox, [build(**mail)])
    process()
    return Case.objects.get(message=message)
