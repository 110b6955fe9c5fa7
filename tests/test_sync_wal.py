"""postroom.sync.wal: on SQLite a large sync's log is copied into the database file by a thread of its own,
and the connection checkpoints as before once the sync's batches are stored; on PostgreSQL a sync batch
commits without waiting for its log to be flushed, and nothing else does."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from postroom.organizations.models import Organization
from postroom.sync import wal
from postroom.sync.engine import sync_mailbox
from tests.conftest import Cast
from tests.mailbuilder import build
from tests.servers.dovecot import Credentials, Dovecot
from tests.sync_helpers import append, imap_mailbox, tick

pytestmark = pytest.mark.django_db(transaction=True)
pytest_plugins = ["tests.servers.fixtures"]


def _autocheckpoint() -> int:
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        return int(cursor.fetchone()[0])


def _checkpointers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "postroom-checkpoint"]


def _slugs_in_database_file() -> set[str]:
    """The organizations the database file itself holds, ignoring the log (`immutable` skips the WAL)."""
    path = Path(str(connection.settings_dict["NAME"])).resolve()
    db = sqlite3.connect(f"file:{path}?immutable=1", uri=True)
    try:
        return {slug for (slug,) in db.execute("SELECT slug FROM organizations_organization")}
    finally:
        db.close()


@pytest.fixture
def sqlite_only() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("SQLite's write-ahead log; PostgreSQL is covered by test_nothing_happens_on_postgresql")


@pytest.mark.usefixtures("sqlite_only")
def test_the_log_is_copied_by_the_thread_not_by_commits() -> None:
    before = _autocheckpoint()
    assert before > 0
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the schema into the file, for the look below
    with wal.checkpoints_in_background() as copy_log:
        assert _autocheckpoint() == 0  # this connection's commits no longer copy the log
        (thread,) = _checkpointers()
        with transaction.atomic():
            Organization.objects.create(slug="walcopy", name="Copied by the thread")
        assert "walcopy" not in _slugs_in_database_file()  # committed, but only to the log so far
        copy_log()
    thread.join(timeout=10)
    assert not thread.is_alive()  # one last checkpoint, then it ends
    assert "walcopy" in _slugs_in_database_file()
    assert _autocheckpoint() == before


@pytest.mark.usefixtures("sqlite_only")
def test_an_error_in_the_block_restores_the_connection_and_ends_the_thread() -> None:
    before = _autocheckpoint()
    with pytest.raises(RuntimeError), wal.checkpoints_in_background():
        (thread,) = _checkpointers()
        raise RuntimeError("a batch failed")
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert _autocheckpoint() == before


@pytest.mark.usefixtures("sqlite_only")
def test_a_reader_holding_an_old_snapshot_neither_blocks_nor_breaks_it() -> None:
    path = str(connection.settings_dict["NAME"])
    reader = sqlite3.connect(path)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM organizations_organization").fetchall()  # holds a snapshot
    try:
        with wal.checkpoints_in_background() as copy_log:
            (thread,) = _checkpointers()
            Organization.objects.create(slug="walbusy", name="Behind a reader")
            copy_log()
        thread.join(timeout=10)
        assert not thread.is_alive()
    finally:
        reader.rollback()
        reader.close()
    assert Organization.objects.filter(slug="walbusy").exists()


def test_nothing_happens_on_postgresql() -> None:
    if connection.vendor == "sqlite":
        pytest.skip("PostgreSQL has no log for this to copy")
    with wal.checkpoints_in_background() as copy_log:
        copy_log()
        assert _checkpointers() == []


def _synchronous_commit() -> str:
    with connection.cursor() as cursor:
        cursor.execute("SHOW synchronous_commit")
        return str(cursor.fetchone()[0])


@pytest.mark.postgres
def test_only_the_transaction_that_asks_commits_without_flush() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("PostgreSQL's synchronous_commit")
    assert _synchronous_commit() == "on"
    with transaction.atomic():
        wal.commit_without_flush()
        assert _synchronous_commit() == "off"
        Organization.objects.create(slug="asynccommit", name="Committed without waiting")
    assert _synchronous_commit() == "on"  # SET LOCAL: the next transaction waits for the disk again
    assert Organization.objects.filter(slug="asynccommit").exists()


def test_a_sync_batch_commits_without_flush(cast: Cast, dovecot: Dovecot, imap_user: Credentials) -> None:
    append(dovecot, imap_user, "INBOX", [build(subject=f"Batch {n}") for n in range(3)])
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user, "Support")
    tick(mailbox, "INBOX")
    with CaptureQueriesContext(connection) as queries:
        assert sync_mailbox(mailbox).created == 3
    statements = [query["sql"] for query in queries.captured_queries]
    relaxed = [sql for sql in statements if "synchronous_commit" in sql]
    assert len(relaxed) == (1 if connection.vendor == "postgresql" else 0)
    # Set in the batch's transaction, before the folder's checkpoint that commits with the batch.
    assert connection.vendor != "postgresql" or statements.index(relaxed[0]) < next(
        i for i, sql in enumerate(statements) if sql.startswith('UPDATE "sync_folder" SET "last_uid"')
    )
