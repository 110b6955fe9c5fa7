"""Debian's Chromium for the browser tests, driven by Playwright. Never a browser download: CI machines
have apt access only, so the package is installed with apt-get when missing, like Dovecot."""

from __future__ import annotations

import fcntl
import subprocess
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
INSTALL_LOCK = Path("/tmp/postroom-chromium-install.lock")  # noqa: S108 - shared by xdist workers on purpose
# --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start.
# --disable-background-networking: the page under test is the only thing allowed to talk to anything.
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def ensure_installed() -> None:
    """Install Debian's chromium once, even with several xdist workers asking at the same time."""
    if CHROMIUM.exists():
        return
    with INSTALL_LOCK.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if CHROMIUM.exists():
            return
        env = {"DEBIAN_FRONTEND": "noninteractive", "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}
        # fonts-dejavu-core: without a recommended font package pages would render as empty boxes.
        install = ["apt-get", "install", "-y", "--no-install-recommends", "chromium", "fonts-dejavu-core"]
        if subprocess.run(install, env=env, capture_output=True).returncode != 0:  # noqa: S603
            subprocess.run(["apt-get", "update"], env=env, check=True, capture_output=True)  # noqa: S607
            subprocess.run(install, env=env, check=True, capture_output=True)  # noqa: S603
