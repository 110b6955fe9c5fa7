"""Debian's Chromium for the browser tests, driven by Playwright. Never a browser download: CI machines
have apt access only, so the package is installed with apt-get when missing, like Dovecot."""

from __future__ import annotations

from pathlib import Path

from tests.servers.apt import ensure_package

CHROMIUM = Path("/usr/bin/chromium")
# --no-sandbox: CI containers run as root, where Chromium's sandbox refuses to start.
# --disable-background-networking: the page under test is the only thing allowed to talk to anything.
LAUNCH_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]


def ensure_installed() -> None:
    """Install Debian's chromium once. fonts-dejavu-core: without a recommended font package pages would
    render as empty boxes."""
    ensure_package(CHROMIUM, "chromium", "fonts-dejavu-core")
