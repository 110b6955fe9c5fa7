"""Storing fetched mail: parse -> identify -> thread -> insert, a batch at a time.

`store_messages` is what the sync engine calls with the raw bytes it fetched. It returns, in input order,
the Message each input is (new or already stored), so the caller can record where it saw it. It never
fails because of a message's content: unparsable mail is stored raw with `parse_error` set.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, OperationalError, connection, models, transaction

from postroom.messages.models import Attachment, Message, MessageBody, MessageRaw, ThreadKey
from postroom.messages.parse import ParsedMessage, parse
from postroom.messages.threads import Retry, assign_threads, chunked
from postroom.organizations.models import Organization

logger = logging.getLogger(__name__)

ATTEMPTS = 5
RAW_BATCH = 100  # rows per INSERT of raw bytes: ~5 MB statements rather than one huge one
Identity = tuple[str, str]  # (normalised Message-ID, content hash)


@dataclass(frozen=True)
class StoredMessage:
    message_id: int  # the Message's primary key
    created: bool
    thread_id: int
    parse_error: str


def store_message(organization: Organization, raw: bytes) -> StoredMessage:
    return store_messages(organization, [raw])[0]


def store_messages(organization: Organization, raws: Sequence[bytes]) -> list[StoredMessage]:
    """Store a batch in one transaction (a savepoint when the caller has one open, so a sync checkpoint
    commits with the messages it covers). Safe to repeat: stored messages are found, not duplicated.

    A concurrent writer storing the same or related messages can make our inserts collide; then the
    whole batch is looked up again (bounded attempts) and sees the other writer's rows."""
    return store_parsed(organization, raws, [parse(raw) for raw in raws])


def store_parsed(
    organization: Organization, raws: Sequence[bytes], parsed: Sequence[ParsedMessage]
) -> list[StoredMessage]:
    """`store_messages` for messages already parsed (`parsed[i]` is `parse(raws[i])`), so a caller can
    parse in other processes — parsing is CPU-bound, the database part is not."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            with transaction.atomic():
                return _store(organization, raws, parsed)
        except (IntegrityError, Retry) as exc:
            _give_up_after(attempt, exc)
        except OperationalError as exc:
            if not _is_transient(exc):
                raise
            _give_up_after(attempt, exc)
    raise AssertionError("unreachable")


def reparse(message: Message) -> Message:
    """Re-run parsing from the stored raw bytes and refresh the parsed fields, bodies and attachments
    (after a parser fix). Identity, thread and organization stay as they are; newly found references
    become thread keys of this message's thread where no other thread has them."""
    raw = bytes(MessageRaw.objects.get(message=message).data)
    parsed = parse(raw)
    with transaction.atomic():
        for name, value in _parsed_fields(parsed).items():
            setattr(message, name, value)
        message.save(update_fields=list(_parsed_fields(parsed)))
        MessageBody.objects.update_or_create(
            message=message,
            defaults={"organization": message.organization, "text": parsed.text, "html": parsed.html},
        )
        Attachment.objects.filter(message=message).delete()
        Attachment.objects.bulk_create(_attachments(message, parsed))
        keys = [
            ThreadKey(organization=message.organization, message_id=k, thread_id=message.thread_id)
            for k in parsed.thread_keys
        ]
        ThreadKey.objects.bulk_create(keys, ignore_conflicts=True)
    return message


def _give_up_after(attempt: int, exc: Exception) -> None:
    if attempt == ATTEMPTS:
        raise exc
    logger.info("store_messages: concurrent writer (%s), attempt %d", type(exc).__name__, attempt)


def _is_transient(exc: OperationalError) -> bool:
    """Deadlocks and serialization failures (PostgreSQL) or a busy database (SQLite) are worth a retry."""
    code = getattr(exc.__cause__, "sqlstate", None)
    return code in ("40P01", "40001") or "database is locked" in str(exc)


def _store(
    organization: Organization, raws: Sequence[bytes], parsed: Sequence[ParsedMessage]
) -> list[StoredMessage]:
    identities = [(p.message_id, p.content_hash) for p in parsed]
    existing = _find_existing(organization, identities)
    new_indexes: dict[Identity, int] = {}
    for index, identity in enumerate(identities):
        if identity not in existing and identity not in new_indexes:
            new_indexes[identity] = index
    fresh = [parsed[i] for i in new_indexes.values()]
    thread_ids = assign_threads(organization, fresh)
    messages = [
        Message(organization=organization, thread_id=thread_id, **_identity_fields(p), **_parsed_fields(p))
        for p, thread_id in zip(fresh, thread_ids, strict=True)
    ]
    Message.objects.bulk_create(messages)
    _insert_details(organization, messages, [raws[i] for i in new_indexes.values()], fresh)
    created = {identity: message for identity, message in zip(new_indexes, messages, strict=True)}
    results: list[StoredMessage] = []
    for index, identity in enumerate(identities):
        if identity in created and new_indexes[identity] == index:
            message = created[identity]
            results.append(StoredMessage(message.pk, True, message.thread_id, message.parse_error))
        else:
            row = existing.get(identity) or created[identity]
            results.append(StoredMessage(row.pk, False, row.thread_id, row.parse_error))
    return results


def _find_existing(organization: Organization, identities: list[Identity]) -> dict[Identity, Message]:
    """Stored messages with these identities: one query per 500 ids, using the identity index."""
    wanted = set(identities)
    found: dict[Identity, Message] = {}
    message_ids = sorted({m for m, _h in wanted})
    hashes = sorted({h for _m, h in wanted})
    for id_chunk in chunked(message_ids):
        rows = Message.objects.filter(
            organization=organization, message_id__in=id_chunk, content_hash__in=hashes
        ).only("id", "message_id", "content_hash", "thread_id", "parse_error")
        for row in rows:
            if (row.message_id, row.content_hash) in wanted:
                found[(row.message_id, row.content_hash)] = row
    return found


def _identity_fields(p: ParsedMessage) -> dict[str, object]:
    return {
        "message_id": p.message_id,
        "content_hash": p.content_hash,
        "raw_sha256": p.raw_sha256,
        "size": p.size,
    }


def _parsed_fields(p: ParsedMessage) -> dict[str, object]:
    return {
        "subject": p.subject,
        "from_name": p.from_name,
        "from_address": p.from_address,
        "to": [list(a) for a in p.to],
        "cc": [list(a) for a in p.cc],
        "bcc": [list(a) for a in p.bcc],
        "reply_to": [list(a) for a in p.reply_to],
        "date": p.date,
        "in_reply_to": p.in_reply_to,
        "references": p.references,
        "auto_submitted": p.auto_submitted,
        "precedence": p.precedence,
        "list_id": p.list_id,
        "list_unsubscribe": p.list_unsubscribe,
        "x_autoreply": p.x_autoreply,
        "x_auto_response_suppress": p.x_auto_response_suppress,
        "return_path": p.return_path,
        "content_language": p.content_language,
        "is_delivery_report": p.is_delivery_report,
        "has_attachments": p.has_attachments,
        "snippet": p.snippet,
        "parse_error": p.parse_error,
    }


def _insert_details(
    organization: Organization, messages: list[Message], raws: list[bytes], parsed: Sequence[ParsedMessage]
) -> None:
    org = organization.pk
    _insert_rows(
        MessageRaw,
        {"message_id": "int8", "organization_id": "int8", "data": "bytea"},
        [(m.pk, org, raw) for m, raw in zip(messages, raws, strict=True)],
    )
    _insert_rows(
        MessageBody,
        {"message_id": "int8", "organization_id": "int8", "text": "text", "html": "text"},
        [(m.pk, org, p.text, p.html) for m, p in zip(messages, parsed, strict=True)],
    )
    Attachment.objects.bulk_create(
        [a for m, p in zip(messages, parsed, strict=True) for a in _attachments(m, p)]
    )


def _insert_rows(model: type[models.Model], columns: dict[str, str], rows: list[tuple[Any, ...]]) -> None:
    """Insert the wide rows (raw bytes, bodies): most of the bytes a batch writes. `columns` maps each
    column to its PostgreSQL type.

    On PostgreSQL with COPY in binary format: Django's psycopg cursor binds parameters client-side,
    quoting 50 KB values into the SQL text, which costs more than all the rest of the batch."""
    if connection.vendor != "postgresql":
        objects = [model(**dict(zip(columns, row, strict=True))) for row in rows]
        model._default_manager.bulk_create(objects, batch_size=RAW_BATCH)
        return
    connection.ensure_connection()
    names = ", ".join(columns)
    with connection.connection.cursor() as cursor:
        with cursor.copy(f"COPY {model._meta.db_table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(list(columns.values()))
            for row in rows:
                copy.write_row(row)


def _attachments(message: Message, parsed: ParsedMessage) -> list[Attachment]:
    return [
        Attachment(
            organization_id=message.organization_id,
            message=message,
            filename=a.filename,
            content_type=a.content_type,
            size=a.size,
            content_id=a.content_id,
            disposition=a.disposition,
            part_path=a.part_path[:100],
        )
        for a in parsed.attachments
    ]
