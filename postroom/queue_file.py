"""The embedded default's queue file: how huey's SQLite storage connects to it (settings.HUEY).

huey leaves SQLite's `synchronous` at FULL, so every task queued waited for an fsync of the queue file:
0.22 ms an enqueue against 0.03 at NORMAL, measured, and an automatic reply queues one send each (a
seventh of processing an answered message, bench.processing). NORMAL is what the main database runs at
(settings.DATABASES): in WAL mode a power cut may lose the last transactions, never the file. A task
lost that way is not lost work: the periodic sweeps find every due job and outgoing message in the
database again. Kept out of postroom.queue so that settings can name it without importing huey.
"""

from __future__ import annotations

import sqlite3
from typing import Any


class QueueConnection(sqlite3.Connection):
    """A connection to the queue file with `synchronous=NORMAL` (huey passes `factory` to connect)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.execute("PRAGMA synchronous=NORMAL")
