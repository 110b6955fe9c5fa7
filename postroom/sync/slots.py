"""A process-wide bound on how many syncs run at once (POSTROOM_SYNC_CONCURRENCY).

A sync of a large backlog holds a fetched batch, the batch ahead of it and a parsing process (see
`postroom.sync.parsing`), ~150 MB. A worker watching many mailboxes in IDLE would otherwise start a sync
for each of them at once (20 mailboxes: 3 GB), so the IDLE watchers and the queued sync task take a slot
first: a watcher waits for one, the task defers itself (it must not hold a queue thread the outbox needs).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager

from django.conf import settings

_WAIT_STEP = 1.0  # seconds between looks at the stop flag while waiting for a slot
_lock = threading.Lock()
_semaphores: dict[int, threading.BoundedSemaphore] = {}


def _semaphore() -> threading.BoundedSemaphore:
    """The semaphore for the configured concurrency (one per value, so a test may change the setting)."""
    size = max(int(settings.POSTROOM_SYNC_CONCURRENCY), 1)
    with _lock:
        return _semaphores.setdefault(size, threading.BoundedSemaphore(size))


@contextmanager
def sync_slot(wait: bool = True, stop: threading.Event | None = None) -> Iterator[bool]:
    """Hold a sync slot for the block; yields whether one was taken. With `wait`, waits for a slot until
    `stop` is set (then yields False); without it, yields False at once when all slots are taken."""
    semaphore = _semaphore()
    taken = semaphore.acquire(blocking=False)
    while wait and not taken and not (stop is not None and stop.is_set()):
        taken = semaphore.acquire(timeout=_WAIT_STEP)
    try:
        yield taken
    finally:
        if taken:
            semaphore.release()
