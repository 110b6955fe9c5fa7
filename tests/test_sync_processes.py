"""The sync as operators run it: `postroom sync --once` in a child process against a file SQLite
database, killed with SIGKILL mid-batch and run again. Every message ends up stored exactly once and the
checkpoint matches what was stored."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from tests.mailbuilder import build
from tests.servers.dovecot import Credentials, Dovecot
from tests.sync_helpers import seed_maildir

pytest_plugins = ["tests.servers.fixtures"]

N = 3000
SETUP = """
import django, sys
django.setup()
from postroom.organizations.models import Organization
from postroom.mailboxes.models import Mailbox
from postroom.sync.models import Folder
org = Organization.objects.create(slug="acme", name="Acme")
box = Mailbox(organization=org, label="Support", email="support@acme.example", imap_host="127.0.0.1",
              imap_port=int(sys.argv[1]), imap_encryption="none", username=sys.argv[2])
box.set_password(sys.stdin.read())
box.save()
Folder.objects.create(organization=org, mailbox=box, name="INBOX", display_name="INBOX", selected=True,
                      kind="inbox")
print(box.pk)
"""


def postroom_script() -> str:
    return str(Path(sys.executable).parent / "postroom")


def child_env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env["POSTROOM_DATA_DIR"] = str(tmp_path / "data")
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'sync.sqlite3'}"
    env["DJANGO_SETTINGS_MODULE"] = "postroom.settings"
    return env


def run(env: dict[str, str], *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(  # noqa: S603 - our own console script and interpreter
        argv, env=env, input=stdin, capture_output=True, text=True, timeout=300, check=False
    )


def count(db: Path, sql: str) -> int:
    with sqlite3.connect(db, timeout=30) as connection:
        value: int = connection.execute(sql).fetchone()[0]
    return value


def sqlite_value(db: Path, sql: str) -> str:
    with sqlite3.connect(db, timeout=30) as connection:
        return str(connection.execute(sql).fetchone()[0])


def seeded_setup(tmp_path: Path, dovecot: Dovecot, user: Credentials) -> tuple[dict[str, str], Path, str]:
    """N messages in the user's INBOX, a migrated file database with a mailbox syncing it: (env, db, id)."""
    seed_maildir(dovecot, user, (build(subject=f"Bulk {n}", body=f"{n} " * 2000) for n in range(N)))
    env = child_env(tmp_path)
    assert run(env, postroom_script(), "migrate").returncode == 0
    setup = run(env, sys.executable, "-c", SETUP, str(dovecot.imap_port), user.username, stdin=user.password)
    assert setup.returncode == 0, setup.stderr
    return env, tmp_path / "sync.sqlite3", setup.stdout.strip()


def descendants(pid: int) -> set[int]:
    """The live descendants of `pid`, from /proc."""
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        for child in (task / "children").read_text().split():
            found |= {int(child)} | descendants(int(child))
    return found


def gone_within(pids: set[int], seconds: float) -> bool:
    """Whether every one of `pids` has exited (or is a zombie) within `seconds`."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        alive = {pid for pid in pids if _running(pid)}
        if not alive:
            return True
        time.sleep(0.1)
    return False


def _running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError):
        return False
    return state != "Z"


def start_sync(env: dict[str, str], mailbox_id: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603
        [postroom_script(), "sync", "--mailbox", mailbox_id, "--once"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


def test_two_workers_syncing_one_mailbox_at_once_one_works_the_other_skips(
    tmp_path: Path, dovecot: Dovecot, imap_user: Credentials
) -> None:
    env, db, mailbox_id = seeded_setup(tmp_path, dovecot, imap_user)
    first = start_sync(env, mailbox_id)
    deadline = time.monotonic() + 60
    while count(db, "SELECT COUNT(*) FROM sync_mailboxsyncstate WHERE lease_owner != ''") == 0:
        assert first.poll() is None and time.monotonic() < deadline
        time.sleep(0.02)

    second = run(env, postroom_script(), "sync", "--mailbox", mailbox_id, "--once")
    out, _err = first.communicate(timeout=300)

    assert first.returncode == 0 and f"({N} fetched)" in out.decode()
    assert second.returncode == 0 and "skipped: another worker is syncing it" in second.stdout
    assert count(db, "SELECT COUNT(*) FROM sync_placement") == N
    assert count(db, "SELECT COUNT(*) FROM mail_message") == N


def test_worker_killed_mid_batch_resumes_with_every_message_exactly_once(
    tmp_path: Path, dovecot: Dovecot, imap_user: Credentials
) -> None:
    env, db, mailbox_id = seeded_setup(tmp_path, dovecot, imap_user)

    worker = start_sync(env, mailbox_id)
    deadline = time.monotonic() + 120
    while count(db, "SELECT COUNT(*) FROM sync_placement") == 0:  # until the first batch committed
        assert worker.poll() is None, worker.communicate()
        assert time.monotonic() < deadline
        time.sleep(0.02)
    helpers = descendants(worker.pid)  # the parsing process, and multiprocessing's resource tracker
    assert helpers, "a sync of this size parses in a helper process"
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    assert gone_within(helpers, seconds=15), "the killed sync's helper processes outlived it"
    killed_at = count(db, "SELECT COUNT(*) FROM sync_placement")
    assert 0 < killed_at < N
    assert count(db, "SELECT last_uid FROM sync_folder") == count(db, "SELECT MAX(uid) FROM sync_placement")

    holder = sqlite_value(db, "SELECT lease_owner FROM sync_mailboxsyncstate")
    assert holder.split(":")[1] == str(worker.pid)  # the dead worker still holds the lease...

    resumed = run(env, postroom_script(), "sync", "--mailbox", mailbox_id, "--once")

    assert resumed.returncode == 0, resumed.stdout + resumed.stderr  # ... but it is dead: taken over
    assert f"({N - killed_at} fetched" in resumed.stdout
    assert count(db, "SELECT COUNT(*) FROM sync_placement") == N
    assert count(db, "SELECT COUNT(DISTINCT message_id) FROM sync_placement") == N
    assert count(db, "SELECT COUNT(*) FROM mail_message") == N
    assert count(db, "SELECT COUNT(DISTINCT message_id) FROM mail_message") == N
    assert count(db, "SELECT last_uid FROM sync_folder") == count(db, "SELECT MAX(uid) FROM sync_placement")
