"""SQLite: while a large backlog is stored, copy the write-ahead log into the database file in a thread
of its own instead of in the storing thread's commits.

In WAL mode a commit that leaves the log over `wal_autocheckpoint` pages (1,000 by default: 16 MB with our
16 KB pages) also copies the log into the database file and syncs it before it returns. A sync batch
writes ~17 MB, so nearly every batch paid for a checkpoint: 28% of the store's time at 2,000 messages. A
PASSIVE checkpoint on a connection of its own does the same copy without blocking the writer, and SQLite
releases the GIL while it runs, so it overlaps the next batch's parsing and inserts (figures in the README,
bench.sync). Other databases: nothing to do.
"""

from __future__ import annotations

import logging
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection

logger = logging.getLogger(__name__)


@contextmanager
def checkpoints_in_background() -> Iterator[Callable[[], None]]:
    """Within the block, this thread's connection leaves checkpoints to a background thread; call the
    yielded function after each commit to have the log copied. Afterwards the connection checkpoints as
    before, and the thread makes one last checkpoint and ends (not waited for: it may overlap whatever the
    caller does next)."""
    if connection.vendor != "sqlite":
        yield _nothing
        return
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA wal_autocheckpoint")
        (pages,) = cursor.fetchone()
        cursor.execute("PRAGMA wal_autocheckpoint=0")
    checkpointer = Checkpointer(str(connection.settings_dict["NAME"]))
    try:
        yield checkpointer.wake
    finally:
        checkpointer.finish()
        if connection.connection is not None:  # it may have been closed by an error handler
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA wal_autocheckpoint={int(pages)}")


def _nothing() -> None:
    pass


class Checkpointer:
    """A thread that runs `PRAGMA wal_checkpoint(PASSIVE)` on its own connection when woken. PASSIVE
    copies what no reader still needs and never waits for a lock, so it cannot slow the writer down."""

    def __init__(self, path: str) -> None:
        self._path = path
        self._woken = threading.Event()
        self._finishing = threading.Event()
        self.thread = threading.Thread(target=self._run, name="postroom-checkpoint", daemon=True)
        self.thread.start()

    def wake(self) -> None:
        self._woken.set()

    def finish(self) -> None:
        self._finishing.set()
        self._woken.set()

    def _run(self) -> None:
        try:
            db = sqlite3.connect(self._path, check_same_thread=False)
        except sqlite3.Error:
            logger.warning("WAL checkpointer: cannot open the database", exc_info=True)
            return
        try:
            while True:
                self._woken.wait()
                self._woken.clear()
                finishing = self._finishing.is_set()
                self._checkpoint(db)
                if finishing:
                    return
        finally:
            db.close()

    @staticmethod
    def _checkpoint(db: sqlite3.Connection) -> None:
        try:
            db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        except sqlite3.Error:
            # Another checkpoint running (busy) or a transient I/O error: the next one, or the writers'
            # own once the block ends, copies what this one did not.
            logger.debug("WAL checkpoint skipped", exc_info=True)
