"""Huey tasks of stored mail (imported by the worker, which loads every app's `tasks` module).

`index_search_bodies` is queued after a sync batch commits (PostgreSQL only) and fills the body search
vectors the batch left empty; `sweep_search_index` runs every minute for a wake-up that was lost. Both are
safe to run on several workers at once (`postroom.messages.search_index`).
"""

from __future__ import annotations

from postroom.messages import search_index
from postroom.queue import crontab, db_periodic_task, db_task


@db_task()  # type: ignore[untyped-decorator]  # huey is untyped
def index_search_bodies() -> int:
    """Fill every missing body search vector; returns how many were filled."""
    return search_index.index_pending()


@db_periodic_task(crontab(minute="*"))  # type: ignore[untyped-decorator]  # huey is untyped
def sweep_search_index() -> int:
    """The same, every minute, in case a queued indexing task was lost."""
    return search_index.index_pending()
