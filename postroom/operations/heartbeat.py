"""Worker liveness and task durations, written to the database by every worker process.

Each worker process runs one `Heartbeat` thread: every `BEAT_SECONDS` it touches its `WorkerHeartbeat`
row, adds the task durations it measured since the last beat to `TaskTiming`, and prunes the rows of
workers silent for `PRUNE_AFTER`. Durations go to the database rather than a per-process Prometheus
registry because workers are separate processes on any number of machines and /metrics is served by the
web processes: one scrape of any web process then sees every worker (a worker killed with SIGKILL loses
at most its last `BEAT_SECONDS` of measurements).
"""

from __future__ import annotations

import bisect
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, close_old_connections, connection, transaction
from django.utils import timezone

from postroom.operations.models import TaskTiming, WorkerHeartbeat

logger = logging.getLogger(__name__)

BEAT_SECONDS = 10.0
# A worker is alive while its last beat is younger than this (three missed beats).
FRESH_SECONDS = 3 * BEAT_SECONDS
PRUNE_AFTER = timedelta(hours=1)
# Upper bounds (seconds) of the duration histogram: tasks range from a no-op sweep to a long first sync.
TASK_BUCKETS: tuple[float, ...] = (0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)


def bucket_index(seconds: float) -> int:
    """Index into a list of len(TASK_BUCKETS) + 1 counts; the last one is +Inf."""
    return bisect.bisect_left(TASK_BUCKETS, seconds)


@dataclass
class Timing:
    count: int = 0
    total_seconds: float = 0.0
    errors: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(TASK_BUCKETS) + 1))

    def add(self, seconds: float, failed: bool) -> None:
        self.count += 1
        self.total_seconds += seconds
        self.errors += int(failed)
        self.buckets[bucket_index(seconds)] += 1

    def merge(self, other: Timing) -> None:
        self.count += other.count
        self.total_seconds += other.total_seconds
        self.errors += other.errors
        self.buckets = [mine + theirs for mine, theirs in zip(self.buckets, other.buckets, strict=True)]


class TimingRecorder:
    """Huey pre/post-execute hooks that time every task run in this process, kept until `flush`."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._started: dict[str, float] = {}
        self._pending: dict[str, Timing] = {}

    def before(self, task: Any) -> None:
        with self._lock:
            self._started[task.id] = time.monotonic()

    def after(self, task: Any, value: Any, exc: BaseException | None) -> None:
        with self._lock:
            started = self._started.pop(task.id, None)
            if started is not None:
                self.record_locked(task.name, time.monotonic() - started, exc is not None)

    def record(self, task_name: str, seconds: float, failed: bool = False) -> None:
        with self._lock:
            self.record_locked(task_name, seconds, failed)

    def record_locked(self, task_name: str, seconds: float, failed: bool) -> None:
        self._pending.setdefault(task_name, Timing()).add(seconds, failed)

    def flush(self) -> None:
        """Add what was measured since the last flush to the database, in one transaction; on failure it
        is kept for the next flush."""
        with self._lock:
            pending, self._pending = self._pending, {}
        if not pending:
            return
        try:
            with transaction.atomic():
                for task_name, timing in sorted(pending.items()):  # one lock order across workers
                    _add_timing(task_name, timing)
        except Exception:
            with self._lock:
                for task_name, timing in pending.items():
                    self._pending.setdefault(task_name, Timing()).merge(timing)
            raise


def _add_timing(task_name: str, timing: Timing) -> None:
    row = _locked_timing_row(task_name)
    counts = list(row.bucket_counts) or [0] * (len(TASK_BUCKETS) + 1)
    row.bucket_counts = [old + new for old, new in zip(counts, timing.buckets, strict=True)]
    row.count += timing.count
    row.total_seconds += timing.total_seconds
    row.errors += timing.errors
    row.save(update_fields=["bucket_counts", "count", "total_seconds", "errors"])


def _locked_timing_row(task_name: str) -> TaskTiming:
    """The task's row, locked until the transaction ends (created first if missing; safe when two
    workers create it at once)."""
    if not TaskTiming.objects.filter(task=task_name).exists():
        try:
            with transaction.atomic():
                TaskTiming.objects.create(task=task_name, bucket_counts=[0] * (len(TASK_BUCKETS) + 1))
        except IntegrityError:
            pass
    return TaskTiming.objects.select_for_update().get(task=task_name)


class Heartbeat:
    """The worker's liveness row and the flushing of its task timings, in a daemon thread."""

    def __init__(self, recorder: TimingRecorder) -> None:
        self.recorder = recorder
        self.host, self.pid = socket.gethostname(), os.getpid()
        self.name = f"{self.host}:{self.pid}"
        self.started_at = timezone.now()

    def beat(self) -> None:
        now = timezone.now()
        WorkerHeartbeat.objects.update_or_create(
            name=self.name,
            defaults={"last_beat_at": now},
            create_defaults={
                "host": self.host,
                "pid": self.pid,
                "started_at": self.started_at,
                "last_beat_at": now,
            },
        )
        self.recorder.flush()
        WorkerHeartbeat.objects.filter(last_beat_at__lt=now - PRUNE_AFTER).delete()

    def run(self, stop: threading.Event) -> None:
        try:
            while True:
                close_old_connections()
                try:
                    self.beat()
                except Exception:  # a database hiccup must not end the heartbeat for good
                    logger.exception("worker heartbeat failed")
                if stop.wait(BEAT_SECONDS):
                    break
            self.recorder.flush()
            WorkerHeartbeat.objects.filter(name=self.name).delete()  # a clean stop is not a dead worker
        except Exception:
            logger.exception("worker heartbeat could not sign off")
        finally:
            connection.close()


def start(queue: Any, stop: threading.Event) -> threading.Thread:
    """Time every task `queue` (the Huey instance) runs in this process and beat until `stop` is set."""
    recorder = TimingRecorder()
    queue.pre_execute("postroom-timing")(recorder.before)
    queue.post_execute("postroom-timing")(recorder.after)
    thread = threading.Thread(target=Heartbeat(recorder).run, args=(stop,), name="heartbeat", daemon=True)
    thread.start()
    return thread
