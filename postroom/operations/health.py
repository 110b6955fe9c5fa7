"""What /healthz reports: can this process reach the database and the queue, and is some worker alive.

Healthy (HTTP 200) when the database and the queue answer and at least one worker process beat within
`FRESH_SECONDS` — or when tasks run inline (POSTROOM_QUEUE_IMMEDIATE), where no worker is needed. No
organization data is in the report: worker names are host:pid.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import connection
from django.utils import timezone

from postroom.operations.heartbeat import FRESH_SECONDS
from postroom.operations.models import WorkerHeartbeat
from postroom.worker import queue, tasks_run_inline

OK = "ok"
ERROR = "error"


def check_database() -> str:
    """ "ok", or what failed (the exception's kind only: messages may name hosts and users)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception as exc:  # noqa: BLE001 - any failure means "not healthy", reported by kind
        return f"{ERROR}: {type(exc).__name__}"
    return OK


def check_queue() -> str:
    """ "ok" when the queue's storage (the SQLite file or Redis) answers a read."""
    try:
        queue().pending_count()
    except Exception as exc:  # noqa: BLE001
        return f"{ERROR}: {type(exc).__name__}"
    return OK


def workers(now: datetime) -> list[dict[str, Any]]:
    """Every worker that beat recently enough not to be pruned, newest first."""
    return [
        {
            "name": beat.name,
            "host": beat.host,
            "pid": beat.pid,
            "last_heartbeat": beat.last_beat_at.isoformat(),
            "age_s": round((now - beat.last_beat_at).total_seconds(), 1),
            "fresh": now - beat.last_beat_at <= timedelta(seconds=FRESH_SECONDS),
        }
        for beat in WorkerHeartbeat.objects.order_by("-last_beat_at")[:100]
    ]


def report() -> tuple[bool, dict[str, Any]]:
    """(healthy, the JSON document)."""
    now = timezone.now()
    database = check_database()
    queue_state = check_queue()
    seen = workers(now) if database == OK else []
    if tasks_run_inline():
        worker_state = "ok: tasks run inline, no worker needed"
    elif any(worker["fresh"] for worker in seen):
        worker_state = OK
    else:
        worker_state = f"{ERROR}: no worker heartbeat in the last {FRESH_SECONDS:.0f} s"
    healthy = all(state.startswith(OK) for state in (database, queue_state, worker_state))
    return healthy, {
        "status": OK if healthy else ERROR,
        "database": _short(database),
        "queue": _short(queue_state),
        "workers": seen,
        "checks": {"database": database, "queue": queue_state, "workers": worker_state},
    }


def _short(state: str) -> str:
    return OK if state == OK else ERROR
