"""Debian packages the tests and benchmarks need (Dovecot, Chromium, mbsync), installed with apt-get on
first use: a fresh CI machine has apt access and nothing installed by hand."""

from __future__ import annotations

import fcntl
import subprocess
from pathlib import Path

ENV = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


def ensure_package(program: Path, *packages: str) -> None:
    """Install `packages` unless `program` exists; once, even with several xdist workers asking at the
    same time (they wait on a lock file named after the program)."""
    if program.exists():
        return
    lock_file = Path(f"/tmp/postroom-{program.name}-install.lock")  # noqa: S108 - shared by workers on purpose
    with lock_file.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if program.exists():
            return
        install = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
        if subprocess.run(install, env=ENV, capture_output=True).returncode != 0:  # noqa: S603
            subprocess.run(["apt-get", "update"], env=ENV, check=True, capture_output=True)  # noqa: S607
            subprocess.run(install, env=ENV, check=True, capture_output=True)  # noqa: S603
