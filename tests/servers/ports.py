"""Free loopback ports for servers started by tests (no fixed ports: tests run in parallel)."""

from __future__ import annotations

import socket


def free_port(*hosts: str) -> int:
    """A TCP port that is free on every host in `hosts` (default 127.0.0.1) at the time of asking.

    The port is released before returning, so a tiny race with other processes remains; the servers
    started from it fail loudly if they lose that race.
    """
    hosts = hosts or ("127.0.0.1",)
    for _ in range(50):
        with socket.socket() as probe:
            probe.bind((hosts[0], 0))
            port: int = probe.getsockname()[1]
        if all(_bindable(host, port) for host in hosts[1:]):
            return port
    raise RuntimeError(f"no port free on all of {hosts}")


def _bindable(host: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((host, port))
        except OSError:
            return False
    return True
