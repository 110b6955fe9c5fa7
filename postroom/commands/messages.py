"""`postroom messages export --mailbox ID --format jsonl`: every stored message placed in a mailbox, one
JSON object per line (streamed, so any size of mailbox exports in constant memory)."""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

from postroom.commands.base import Subcommands, UsageError
from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Attachment, Message
from postroom.sync.models import Placement

CHUNK = 500


def register(subcommands: Subcommands) -> None:
    group = subcommands.add_parser("messages", help="stored messages").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    export = group.add_parser("export", help="export a mailbox's messages (one JSON object per line)")
    export.add_argument("--mailbox", type=int, required=True, metavar="ID")
    export.add_argument("--format", choices=["jsonl"], default="jsonl")
    export.set_defaults(handler=handle_export)


def handle_export(args: argparse.Namespace) -> int:
    mailbox = Mailbox.objects.filter(pk=args.mailbox).first()
    if mailbox is None:
        raise UsageError(f"no mailbox with id {args.mailbox}")
    for document in export_documents(mailbox):
        print(json.dumps(document, sort_keys=True, ensure_ascii=False))
    return 0


def export_documents(mailbox: Mailbox) -> Iterator[dict[str, Any]]:
    """One document per distinct message placed in `mailbox`, in storage order."""
    ids = list(
        Placement.objects.filter(mailbox=mailbox)
        .order_by("message_id")
        .values_list("message_id", flat=True)
        .distinct()
    )
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        folders = _folders(mailbox, chunk)
        attachments = _attachments(chunk)
        for message in Message.objects.filter(pk__in=chunk).order_by("pk").defer("references"):
            yield _document(message, sorted(folders[message.pk]), attachments[message.pk])


def _folders(mailbox: Mailbox, ids: list[int]) -> dict[int, set[str]]:
    found: dict[int, set[str]] = defaultdict(set)
    rows = Placement.objects.filter(mailbox=mailbox, message_id__in=ids).values_list(
        "message_id", "folder__display_name"
    )
    for message_id, name in rows:
        found[message_id].add(name)
    return found


def _attachments(ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    found: dict[int, list[dict[str, Any]]] = defaultdict(list)
    rows = Attachment.objects.filter(message_id__in=ids).order_by("message_id", "part_path")
    for row in rows.values_list("message_id", "filename", "content_type", "size"):
        found[row[0]].append({"name": row[1], "type": row[2], "size": row[3]})
    return found


def _document(message: Message, folders: list[str], attachments: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "id": message.pk,
        "message_id": message.message_id,
        "subject": message.subject,
        "from": {"name": message.from_name, "address": message.from_address},
        "to": message.to,
        "cc": message.cc,
        "date": message.date.isoformat() if message.date else None,
        "folders": folders,
        "thread_id": message.thread_id,
        "attachments": attachments,
        "parse_error": message.parse_error,
        "raw_sha256": message.raw_sha256,
    }
