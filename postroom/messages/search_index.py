"""Filling PostgreSQL's body search vectors after the sync stored the bodies (migration mail 0006).

The sync inserts bodies with a NULL vector: computing to_tsvector there was half of PostgreSQL's CPU per
synced message, and the sync holds the mailbox while it runs. After each batch commits,
`wake_after_commit` queues `postroom.messages.tasks.index_search_bodies`, which fills the vectors in
chunks; a sweep every minute catches a wake-up that was lost. Until then search reads the text of the
bodies still NULL (`postroom.messages.search`), so nothing is ever unfindable, only slower to find for a
moment. Several workers index at once without waiting on each other (SKIP LOCKED). SQLite indexes in the
FTS5 triggers instead: every function here does nothing there.
"""

from __future__ import annotations

from django.db import connection, transaction

from postroom.messages.search import BODY_VECTOR, SEARCH_COLUMN

CHUNK = 500  # bodies per UPDATE: each chunk commits on its own, so a long backlog holds no lock for long

_INDEX_CHUNK = (
    f"UPDATE mail_messagebody SET {SEARCH_COLUMN} = {BODY_VECTOR}"  # noqa: S608 - constants only
    " WHERE message_id IN (SELECT message_id FROM mail_messagebody"
    f" WHERE {SEARCH_COLUMN} IS NULL ORDER BY message_id LIMIT %s FOR UPDATE SKIP LOCKED)"
)


def deferred() -> bool:
    """Whether body vectors are filled after the sync on this database."""
    return connection.vendor == "postgresql"


def index_chunk(limit: int = CHUNK) -> int:
    """Fill the vectors of up to `limit` bodies that have none, oldest first; returns how many."""
    if not deferred():
        return 0
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(_INDEX_CHUNK, [limit])
        filled: int = cursor.rowcount
    return max(filled, 0)


def index_pending(chunk: int = CHUNK) -> int:
    """Fill every vector still missing, chunk by chunk; returns how many were filled."""
    total = 0
    while (done := index_chunk(chunk)) > 0:
        total += done
    return total


def pending() -> int:
    """How many bodies wait for their vector (the partial index mail_messagebody_unindexed counts them)."""
    if not deferred():
        return 0
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT count(*) FROM mail_messagebody WHERE {SEARCH_COLUMN} IS NULL")  # noqa: S608
        (count,) = cursor.fetchone()
    return int(count)


def wake_after_commit() -> None:
    """Queue the indexing task once the surrounding transaction (a sync batch) commits."""
    if deferred():
        transaction.on_commit(_wake)


def _wake() -> None:
    from postroom.messages.tasks import index_search_bodies  # huey is only needed by workers

    index_search_bodies()
