"""Storing fetched mail: parse -> identify -> thread -> insert, a batch at a time.

`store_messages` is what the sync engine calls with the raw bytes it fetched. It returns, in input order,
the Message each input is (new or already stored), so the caller can record where it saw it. It never
fails because of a message's content: unparsable mail is stored raw with `parse_error` set.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, NamedTuple

from django.db import IntegrityError, OperationalError, connection, models, transaction
from django.utils import timezone

from postroom.messages import bulk, search_index
from postroom.messages.models import Attachment, Message, MessageBody, MessageRaw, ThreadKey
from postroom.messages.parse import ParsedAttachment, ParsedMessage, parse
from postroom.messages.threads import Retry, assign_threads
from postroom.organizations.models import Organization

logger = logging.getLogger(__name__)

ATTEMPTS = 5
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
    bulk.insert(
        Message,
        MESSAGE_COLUMNS,
        [_message_row(t, p) for p, t in zip(fresh, thread_ids, strict=True)],
        same={"organization_id": organization.pk, "created_at": timezone.now()},
    )
    ids = {identity: row.pk for identity, row in _find_existing(organization, list(new_indexes)).items()}
    message_ids = [ids[identity] for identity in new_indexes]
    _insert_details(organization, message_ids, [raws[i] for i in new_indexes.values()], fresh)
    created = {
        identity: StoredMessage(ids[identity], True, thread_id, p.parse_error)
        for identity, p, thread_id in zip(new_indexes, fresh, thread_ids, strict=True)
    }
    results: list[StoredMessage] = []
    for index, identity in enumerate(identities):
        if identity in existing:
            row = existing[identity]
            results.append(StoredMessage(row.pk, False, row.thread_id, row.parse_error))
        else:  # created here, for the first input with this identity; later ones are repeats of it
            results.append(replace(created[identity], created=new_indexes[identity] == index))
    return results


class _Stored(NamedTuple):
    pk: int
    thread_id: int
    parse_error: str


def _find_existing(organization: Organization, identities: list[Identity]) -> dict[Identity, _Stored]:
    """Stored messages with these identities, through the identity index: by Message-ID (a reused one
    brings along rows with other content, dropped here), or by content hash for mail without one."""
    wanted = set(identities)
    columns = ["message_id", "content_hash", "id", "thread_id", "parse_error"]
    org = {"organization_id": organization.pk}
    with_id = sorted({m for m, _h in wanted if m})
    rows = bulk.select_in(Message, columns, org, "message_id", with_id)
    without_id = sorted({h for m, h in wanted if not m})
    rows += bulk.select_in(Message, columns, {**org, "message_id": ""}, "content_hash", without_id)
    return {(m, h): _Stored(pk, thread, error) for m, h, pk, thread, error in rows if (m, h) in wanted}


# The Message columns a parse fills, named as ParsedMessage names them (see `_parsed_values`).
PARSED_COLUMNS = (
    "subject",
    "from_name",
    "from_address",
    "to",
    "cc",
    "bcc",
    "reply_to",
    "date",
    "in_reply_to",
    "references",
    "auto_submitted",
    "precedence",
    "list_id",
    "list_unsubscribe",
    "x_autoreply",
    "x_auto_response_suppress",
    "return_path",
    "content_language",
    "is_delivery_report",
    "has_attachments",
    "snippet",
    "parse_error",
)
MESSAGE_COLUMNS = ("thread_id", "message_id", "content_hash", "raw_sha256", "size", *PARSED_COLUMNS)


def _message_row(thread_id: int, p: ParsedMessage) -> tuple[Any, ...]:
    return (thread_id, p.message_id, p.content_hash, p.raw_sha256, p.size, *_parsed_values(p))


def _parsed_values(p: ParsedMessage) -> tuple[Any, ...]:
    """The values of PARSED_COLUMNS, in that order (addresses as [name, address] pairs in JSON)."""
    return (
        p.subject,
        p.from_name,
        p.from_address,
        p.to,
        p.cc,
        p.bcc,
        p.reply_to,
        p.date,
        p.in_reply_to,
        p.references,
        p.auto_submitted,
        p.precedence,
        p.list_id,
        p.list_unsubscribe,
        p.x_autoreply,
        p.x_auto_response_suppress,
        p.return_path,
        p.content_language,
        p.is_delivery_report,
        p.has_attachments,
        p.snippet,
        p.parse_error,
    )


def _parsed_fields(p: ParsedMessage) -> dict[str, object]:
    fields = dict(zip(PARSED_COLUMNS, _parsed_values(p), strict=True))
    for name in ("to", "cc", "bcc", "reply_to"):  # the model's own shape: lists, as JSON reads back
        fields[name] = [list(pair) for pair in getattr(p, name)]
    return fields


def _insert_details(
    organization: Organization, message_ids: list[int], raws: list[bytes], parsed: Sequence[ParsedMessage]
) -> None:
    org = organization.pk
    _insert_wide(
        MessageRaw,
        {"message_id": "int8", "organization_id": "int8", "data": "bytea"},
        [(m, org, raw) for m, raw in zip(message_ids, raws, strict=True)],
    )
    _insert_wide(
        MessageBody,
        {"message_id": "int8", "organization_id": "int8", "text": "text", "html": "text"},
        [(m, org, p.text, p.html) for m, p in zip(message_ids, parsed, strict=True)],
    )
    bulk.insert(
        Attachment,
        ATTACHMENT_COLUMNS,
        [_attachment_row(m, a) for m, p in zip(message_ids, parsed, strict=True) for a in p.attachments],
        same={"organization_id": org},
    )
    if message_ids:
        search_index.wake_after_commit()  # the bodies' search vectors are filled after this batch commits


def _insert_wide(model: type[models.Model], columns: dict[str, str], rows: list[tuple[Any, ...]]) -> None:
    """Insert the wide rows (raw bytes, bodies): most of the bytes a batch writes. `columns` maps each
    column to its PostgreSQL type.

    On PostgreSQL with COPY in binary format: Django's psycopg cursor binds parameters client-side,
    quoting 50 KB values into the SQL text, which costs more than all the rest of the batch."""
    if connection.vendor != "postgresql":
        bulk.insert(model, list(columns), rows)
        return
    connection.ensure_connection()
    names = ", ".join(columns)
    # Errors as the ORM raises them (IntegrityError, OperationalError), which is what the retry catches.
    with connection.wrap_database_errors, connection.connection.cursor() as cursor:
        with cursor.copy(f"COPY {model._meta.db_table} ({names}) FROM STDIN (FORMAT BINARY)") as copy:
            copy.set_types(list(columns.values()))
            for row in rows:
                copy.write_row(row)


ATTACHMENT_COLUMNS = (
    "message_id",
    "filename",
    "content_type",
    "size",
    "content_id",
    "disposition",
    "part_path",
)


def _attachment_row(message_id: int, a: ParsedAttachment) -> tuple[Any, ...]:
    return (message_id, a.filename, a.content_type, a.size, a.content_id, a.disposition, a.part_path[:100])


def _attachments(message: Message, parsed: ParsedMessage) -> list[Attachment]:
    return [
        Attachment(
            organization_id=message.organization_id,
            **dict(zip(ATTACHMENT_COLUMNS, _attachment_row(message.pk, a), strict=True)),
        )
        for a in parsed.attachments
    ]
