"""postroom.sync.wal: on SQLite a large sync's log is copied into the database file by a thread of its own,
and the connection checkpoints as before once the sync's batches are stored."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path

import pytest
from django.db import connection, transaction

from postroom.organizations.models import Organization
from postroom.sync import engine, wal
from tests.conftest import Cast
from tests.mailbuilder import build
from tests.servers.dovecot import Credentials, Dovecot
from tests.sync_helpers import append, assert_exactly_once, imap_mailbox, tick

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


@pytest.mark.usefixtures("sqlite_only")
def test_a_large_sync_has_the_thread_copy_the_log_after_every_batch(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    mail = [build(subject=f"Backlog {n}") for n in range(8)]
    append(dovecot, imap_user, "INBOX", mail)
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user, "Support")
    tick(mailbox, "INBOX")
    monkeypatch.setattr(engine, "BATCH", 2)  # 4 batches: the pipeline's path (PARALLEL_PARSE_BATCHES)
    wakes: list[int] = []
    monkeypatch.setattr(wal.Checkpointer, "wake", lambda self: wakes.append(1))

    assert engine.sync_mailbox(mailbox).created == 8

    assert len(wakes) == 4
    assert_exactly_once(mailbox, "INBOX", mail)
    assert _autocheckpoint() > 0
