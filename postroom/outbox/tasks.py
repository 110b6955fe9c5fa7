"""Huey tasks of the outbox (imported by the worker, which loads every app's `tasks` module).

`send_outgoing_task` is queued when an outgoing message's row commits; `sweep_outbox` runs every minute
and picks up everything else: retries that are due, rows a dead worker left "sending", and sent
messages not yet stored in their thread. Both are safe to run twice: sending claims the row first.
"""

from __future__ import annotations

from django.utils import timezone

from postroom.operations.liveness import expire_dead_claims
from postroom.outbox import send
from postroom.outbox.models import OutgoingMessage, Status
from postroom.queue import crontab, db_periodic_task, db_task


@db_task()  # type: ignore[untyped-decorator]  # huey is untyped
def send_outgoing_task(outgoing_id: int) -> str:
    """Send one outgoing message now if it is due; returns its new status or "skipped"."""
    return send.deliver(outgoing_id) or "skipped"


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]  # huey is untyped
def sweep_outbox() -> int:
    """Send whatever is due (first freeing rows held by dead workers) and file sent copies; returns how
    many rows were handled."""
    expire_dead_claims(OutgoingMessage.objects.filter(status=Status.SENDING), timezone.now())
    return send.send_due() + send.file_unfiled()
