"""The background worker: the Huey queue consumer (`huey.contrib.djhuey`, configured by settings.HUEY),
with its scheduler for periodic tasks. `postroom worker` runs it alone; `postroom run` runs it in the main
thread next to the web server.

Stopping: SIGTERM stops gracefully (running tasks may finish, up to `SHUTDOWN_TIMEOUT` seconds); SIGINT
(Ctrl+C) stops at once. Either way `run_worker` returns normally, so the process exits with code 0.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import signal
import threading
from typing import Any

from django.conf import settings
from django.utils.module_loading import autodiscover_modules

SHUTDOWN_TIMEOUT = 30.0
M_ARENA_MAX = -8  # glibc's mallopt parameter number
MALLOC_ARENAS = 2


def limit_malloc_arenas() -> bool:
    """Cap glibc's malloc arenas before the worker starts its threads. Each IDLE watcher thread otherwise
    gets an arena of its own that keeps what a sync allocated: bench.scale measured one worker with 20
    watchers at 840 MB, and 414 MB with two arenas at the same throughput. No-op off glibc; returns whether
    the cap was applied."""
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        mallopt = ctypes.CDLL(name).mallopt
    except (OSError, AttributeError):
        return False
    return bool(mallopt(M_ARENA_MAX, MALLOC_ARENAS))


def queue() -> Any:
    from postroom.queue import HUEY  # imported when needed: most commands never touch the queue

    return HUEY


def tasks_run_inline() -> bool:
    """True when POSTROOM_QUEUE_IMMEDIATE is on: tasks run where they are enqueued, no consumer needed."""
    return bool(queue().immediate)


def run_worker(workers: int = 1) -> None:
    """Consume the queue in this thread (the main thread: the consumer installs signal handlers) until
    SIGTERM or SIGINT.
    """
    from postroom.operations import heartbeat

    limit_malloc_arenas()
    autodiscover_modules("tasks")  # every app's tasks.py registers its tasks and periodic tasks
    idle_stop = threading.Event()
    heartbeat.start(queue(), idle_stop)  # /healthz and /metrics see this worker and its task durations
    if settings.POSTROOM_IDLE:
        from postroom.sync.idle import start_supervisor

        start_supervisor(idle_stop)
    consumer = queue().create_consumer(
        workers=workers,
        worker_type="thread",
        periodic=True,
        graceful_signal="TERM",
        shutdown_timeout=SHUTDOWN_TIMEOUT,
        check_worker_health=True,
    )
    try:
        consumer.run()
    finally:
        idle_stop.set()


def wait_for_stop_signal() -> None:
    """Block until SIGTERM or SIGINT (used instead of the consumer when tasks run inline)."""
    stop = threading.Event()

    def handle(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    while not stop.wait(0.5):
        pass
