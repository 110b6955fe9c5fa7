"""`postroom leads export --org SLUG --format jsonl` and `postroom cases export --org SLUG --format jsonl`:
an organization's leads or cases, one JSON object per line, oldest first (streamed in chunks)."""

from __future__ import annotations

import argparse
import json
from typing import Any

from postroom.commands.base import Subcommands, organization
from postroom.crm.models import Case, Lead
from postroom.crm.queries import cases_of, leads_of

CHUNK = 500


def register(subcommands: Subcommands) -> None:
    for name, handler in (("leads", handle_leads_export), ("cases", handle_cases_export)):
        group = subcommands.add_parser(name, help=f"{name} converted from mail").add_subparsers(
            dest="action", metavar="ACTION", required=True
        )
        export = group.add_parser(
            "export", help=f"export an organization's {name} (one JSON object per line)"
        )
        export.add_argument("--org", required=True, metavar="SLUG")
        export.add_argument("--format", choices=["jsonl"], default="jsonl")
        export.set_defaults(handler=handler)


def handle_leads_export(args: argparse.Namespace) -> int:
    leads = leads_of(organization(args.org)).select_related("message").order_by("id")
    for lead in leads.iterator(chunk_size=CHUNK):
        _print(lead_document(lead))
    return 0


def handle_cases_export(args: argparse.Namespace) -> int:
    cases = cases_of(organization(args.org)).select_related("message").order_by("id")
    for case in cases.iterator(chunk_size=CHUNK):
        _print(case_document(case))
    return 0


def _print(document: dict[str, Any]) -> None:
    print(json.dumps(document, sort_keys=True, ensure_ascii=False))


def _common(record: Lead | Case) -> dict[str, Any]:
    return {
        "id": record.pk,
        "number": record.reference,
        "email": record.email,
        "owner": record.owner.email if record.owner else None,
        "status": record.status,
        # The conversation's thread now: the originating message's, which follows thread merges.
        "thread_id": record.message.thread_id,
        "message_id": record.message.message_id,  # the Message-ID header, as `messages export` gives it
        "mailbox": record.mailbox_id,
    }


def lead_document(lead: Lead) -> dict[str, Any]:
    return _common(lead) | {"name": lead.name, "source": lead.source.key}


def case_document(case: Case) -> dict[str, Any]:
    return _common(case) | {
        "subject": case.subject,
        "assignee": case.assignee.email if case.assignee else None,
        "priority": case.priority,
    }
