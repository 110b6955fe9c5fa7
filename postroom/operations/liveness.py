"""Claims that name the process holding them, so work held by a dead worker is taken over at once.

Inbound jobs and outgoing messages are claimed with a token and a lease (5 minutes, longer than any run
may take). A worker killed with SIGKILL mid-task would block that work until the lease expires. The
token made here carries a hash of the host name and the process id, so a sweep on the same machine can
see that the holder is gone and expire its lease now. Holders on other machines are left to the lease.
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db.models import QuerySet


def _host_tag(host: str) -> str:
    return hashlib.sha256(host.encode()).hexdigest()[:8]


def claim_token() -> str:
    """32 hex characters: host tag (8), pid (8), random (16)."""
    return f"{_host_tag(socket.gethostname())}{os.getpid() & 0xFFFFFFFF:08x}{uuid.uuid4().hex[:16]}"


def holder_is_dead(token: str) -> bool:
    """True only when the token was issued on this machine by a process that no longer exists."""
    if len(token) != 32 or token[:8] != _host_tag(socket.gethostname()):
        return False
    try:
        os.kill(int(token[8:16], 16), 0)  # signal 0 only asks whether the process exists
    except ProcessLookupError:
        return True
    except (PermissionError, ValueError, OverflowError):
        return False
    return False


def expire_dead_claims(claimed: QuerySet[Any], now: datetime) -> int:
    """Expire the lease of every row in `claimed` (rows currently held under a lease) whose holder is a
    dead local process, so the next due-query takes it over. Conditional on the token: a row re-claimed
    meanwhile is left alone. Returns how many were freed."""
    held = claimed.filter(lease_expires_at__gte=now).values_list("pk", "claim_token")
    freed = 0
    for pk, token in list(held):
        if holder_is_dead(token):
            freed += claimed.filter(pk=pk, claim_token=token).update(
                lease_expires_at=now - timedelta(seconds=1)
            )
    return freed
