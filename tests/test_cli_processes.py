"""The real console script in a child process: `postroom run --demo` serves the web app, prints the demo
login and exits 0 on SIGTERM; `postroom worker` starts and stops cleanly. No pytest database is involved:
each child gets its own data directory and SQLite file.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

STARTUP_SECONDS = 30
STOP_SECONDS = 40


def postroom_script() -> str:
    script = Path(sys.executable).parent / "postroom"
    assert script.exists(), f"console script not installed next to {sys.executable}"
    return str(script)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def child_env(tmp_path: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"DATABASE_URL", "POSTROOM_QUEUE_IMMEDIATE", "REDIS_URL"}
    }
    env["POSTROOM_DATA_DIR"] = str(tmp_path / "data")
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    return env


def start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(  # noqa: S603 (our own console script, fixed arguments)
        [postroom_script(), *args],
        env=child_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "stderr.log").open("w"),
        text=True,
    )


def status_of(url: str) -> int | None:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (a loopback http URL)
            status: int = response.status
            return status
    except urllib.error.HTTPError as exc:
        return exc.code
    except OSError:
        return None


def wait_for_200(url: str, process: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        assert process.poll() is None, "postroom run exited before serving"
        if status_of(url) == 200:
            return
        time.sleep(0.25)
    raise AssertionError(f"{url} did not answer 200 within {STARTUP_SECONDS} s")


def wait_for_consumer(tmp_path: Path) -> None:
    """SIGTERM is only graceful once the queue consumer has installed its signal handlers."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while "Huey consumer started" not in (tmp_path / "stderr.log").read_text():
        assert time.monotonic() < deadline, "the queue consumer did not start"
        time.sleep(0.1)
    time.sleep(0.2)  # it logs that line just before installing the handlers


def stop(process: subprocess.Popen[str]) -> tuple[int, str]:
    process.send_signal(signal.SIGTERM)
    try:
        out, _ = process.communicate(timeout=STOP_SECONDS)
    except subprocess.TimeoutExpired:
        process.kill()
        process.communicate()
        raise AssertionError("postroom did not stop on SIGTERM") from None
    return process.returncode, out


def test_run_demo_serves_login_prints_the_demo_login_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    process = start(tmp_path, "run", "--demo", "--bind", f"127.0.0.1:{port}")
    try:
        wait_for_200(f"http://127.0.0.1:{port}/login/", process)
        wait_for_consumer(tmp_path)
    finally:
        code, out = stop(process)
    password = (tmp_path / "data" / "demo-password").read_text().strip()
    assert code == 0, (tmp_path / "stderr.log").read_text()
    assert f"http://127.0.0.1:{port}/" in out
    assert f"admin@demo.postroom.test / {password}" in out
    assert "Postroom stopped." in out


def test_worker_starts_and_stops_cleanly_on_sigterm(tmp_path: Path) -> None:
    process = start(tmp_path, "worker", "--workers", "1")
    assert process.stdout is not None
    first_line = process.stdout.readline()
    assert first_line.startswith("Postroom worker started"), (tmp_path / "stderr.log").read_text()
    wait_for_consumer(tmp_path)
    code, out = stop(process)
    log = (tmp_path / "stderr.log").read_text()
    assert code == 0, log
    assert "Postroom worker stopped." in out
    assert "Received SIGTERM" in log
    assert (tmp_path / "data" / "queue.sqlite3").exists()
