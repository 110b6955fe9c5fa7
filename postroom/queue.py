"""The task queue (huey, configured by settings.HUEY): every module that defines or queues tasks imports
huey from here, never directly.

huey's storage module tries `import redis` and `import psycopg` whatever storage it is asked for. On the
embedded default (SQLite, no Redis) neither is used, yet importing them cost ~0.12 s: a twentieth of a
2,000-message `postroom sync --once`, which imports the queue to wake the workers after its first batch.
So the client libraries this install cannot use are hidden while huey is imported.
"""

from __future__ import annotations

import sys

from django.conf import settings


def _unused_clients() -> list[str]:
    """The client libraries huey would import for nothing here (and that nobody has imported yet)."""
    unused = []
    if "Redis" not in settings.HUEY["huey_class"]:
        unused.append("redis")
    if "postgresql" not in settings.DATABASES["default"]["ENGINE"]:
        unused.append("psycopg")
    return [name for name in unused if name not in sys.modules]


def _import_huey_storage() -> None:
    if "huey.storage" in sys.modules:
        return
    hidden = _unused_clients()
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # `import name` now raises ImportError
    try:
        import huey.storage  # noqa: F401 - imported for its side effect on sys.modules
    finally:
        for name in hidden:  # later imports of them (none expected) work as usual
            del sys.modules[name]


_import_huey_storage()

# Re-exported for the tasks modules; after the storage import above, these find it in sys.modules.
from huey import crontab  # noqa: E402
from huey.contrib.djhuey import HUEY, db_periodic_task, db_task  # noqa: E402

__all__ = ["HUEY", "crontab", "db_periodic_task", "db_task"]
