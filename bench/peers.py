"""Peer comparison benchmark (issue 8): the same seeded mailbox ingested by django-mailbox (`getmail`),
django-helpdesk (`get_email`) and Postroom, messages/s for each and Postroom's ratio to each.

Usage (from the repository root; needs network access to PyPI once per run, and dovecot-imapd):

    .venv/bin/python -m bench.peers [--messages 2000]

It creates a throwaway virtualenv in a temp directory and pip-installs django-mailbox and django-helpdesk
from PyPI into it, writes a minimal settings module for each (SQLite, their own `migrate`), and starts a
private Dovecot. Both peers delete the mail they take from the server, so each contender gets its own
user seeded with the same MESSAGES messages (bench.sync's realistic mix, ~50 KB average). Timed, each as a
child process from start to exit, so each pays its own start-up:

  - django-mailbox: `django-admin getmail` (one mailbox, imap://, stores messages and attachments);
  - django-helpdesk: `django-admin get_email` (one queue, IMAP, a ticket or follow-up per message);
  - Postroom: `postroom sync --mailbox ID --once` (SQLite too, Convert To Case on), then the processing
    jobs that turn new threads into cases (run in this process; timed separately and added). The sync
    runs three times, each into a fresh copy of the database: before, between and after the peers, so
    that its median is taken at the machine's speed while they ran.

A peer counts as done when the server's INBOX is empty (it took every message). Target: Postroom at
least 10x faster than both. Everything lives in the temp directory and is removed afterwards.
"""

from __future__ import annotations

import argparse
import shutil
import sqlite3
import statistics
import subprocess
import sys
import time
from contextlib import closing
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from bench import _stack
from bench.sync import full_sync, realistic_messages
from tests.servers.dovecot import Credentials, Dovecot

PEER_PACKAGES = ("django-mailbox", "django-helpdesk")
SETTINGS = """\
SECRET_KEY = "bench-not-secret"
USE_TZ = True
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {database!r}}}}}
MEDIA_ROOT = {media!r}
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SITE_ID = 1
ROOT_URLCONF = {urls!r}
TEMPLATES = [{{"BACKEND": "django.template.backends.django.DjangoTemplates", "APP_DIRS": True,
              "OPTIONS": {{"context_processors": ["django.contrib.auth.context_processors.auth",
                                                 "django.contrib.messages.context_processors.messages",
                                                 "django.template.context_processors.request"]}}}}]
INSTALLED_APPS = {apps!r}
HELPDESK_TEAMS_MODE_ENABLED = False  # else it needs pinax-teams
"""
MAILBOX_APPS = ["django.contrib.contenttypes", "django.contrib.auth", "django_mailbox"]
HELPDESK_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.sites",
    "django.contrib.humanize",
    "rest_framework",
    "helpdesk",
]
MAILBOX_SETUP = "from django_mailbox.models import Mailbox; Mailbox.objects.create(name='bench', uri={uri!r})"
HELPDESK_URLS = (
    "from django.urls import include, path\n"
    'urlpatterns = [path("helpdesk/", include("helpdesk.urls", namespace="helpdesk"))]\n'
)
HELPDESK_SETUP = (
    "from helpdesk.models import Queue; Queue.objects.create(title='Bench', slug='bench', "
    "email_address='support@bench.example', allow_email_submission=True, email_box_type='imap', "
    "email_box_host='127.0.0.1', email_box_port={port}, email_box_ssl=False, email_box_user={user!r}, "
    "email_box_pass={password!r}, email_box_imap_folder='INBOX', email_box_interval=0)"
)


@dataclass
class Peer:
    name: str
    apps: list[str]
    setup: str
    command: str
    user: str  # its Dovecot login
    urls: str = "urlpatterns = []\n"  # the project's URLconf (helpdesk builds ticket links)


@dataclass
class Timing:
    name: str
    seconds: float
    note: str = ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--messages", type=int, default=2_000, help="messages in the mailbox (default 2000)")
    parser.add_argument(
        "--process",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="Postroom also converts to cases, as django-helpdesk makes tickets (default on)",
    )
    args = parser.parse_args()
    print(
        f"peers: {args.messages} messages into django-mailbox, django-helpdesk and Postroom; expect roughly "
        f"{2 + args.messages / 60 / 30:.0f} min of wall time (pip install, then ~30 msg/s per peer)",
        flush=True,
    )
    with _stack.scratch_run("postroom-bench-peers-") as work:
        timings = run(args.messages, args.process, work)
        report(args.messages, timings)
    return 0


def run(count: int, process: bool, work: Path) -> list[Timing]:
    from tests.servers.certs import make_certificates
    from tests.servers.fixtures import running_dovecot

    python = install_peers(work / "venv")
    (work / "certs").mkdir()
    messages = list(realistic_messages(count))
    with running_dovecot(make_certificates(work / "certs")) as dovecot:
        ours = Postroom(dovecot, messages, work, process)
        ours.sync()
        timings = []
        for index, peer in enumerate(peers(dovecot, messages)):
            timings.append(
                run_peer(python, project=work / f"peer{index}", peer=peer, dovecot=dovecot, count=count)
            )
            ours.sync()  # before, between and after the peers: at the machine's speed when they ran
        return ours.timings() + timings


def install_peers(venv: Path) -> Path:
    """A fresh virtualenv with the peers from PyPI; returns its python."""
    started = time.perf_counter()
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)  # noqa: S603
    python = venv / "bin" / "python"
    subprocess.run(  # noqa: S603 - fixed package names
        [str(python), "-m", "pip", "install", "--quiet", *PEER_PACKAGES], check=True
    )
    versions = subprocess.run(  # noqa: S603
        [str(python), "-m", "pip", "list", "--format", "freeze"], check=True, capture_output=True, text=True
    ).stdout
    wanted = ("django-mailbox", "django-helpdesk", "django=")
    found = [line for line in versions.lower().splitlines() if line.startswith(wanted)]
    print(f"installed {', '.join(found)} in {time.perf_counter() - started:.0f} s", flush=True)
    return python


def seeded_user(dovecot: Dovecot, name: str, messages: list[bytes]) -> Credentials:
    """A Dovecot user with `messages` in INBOX, indexed by Dovecot once (nobody pays the first look)."""
    from tests.sync_helpers import seed_maildir

    user = dovecot.add_user(f"{name}@example.test", f"{name}-pw-1")
    seed_maildir(dovecot, user, messages)
    with dovecot.imap(user.username) as client:
        client.select_folder("INBOX", readonly=True)
    return user


def peers(dovecot: Dovecot, messages: list[bytes]) -> list[Peer]:
    box = seeded_user(dovecot, "djmailbox", messages)
    desk = seeded_user(dovecot, "helpdesk", messages)
    uri = (
        f"imap://{quote(box.username, safe='')}:{quote(box.password, safe='')}@127.0.0.1:{dovecot.imap_port}"
    )
    setup = HELPDESK_SETUP.format(port=dovecot.imap_port, user=desk.username, password=desk.password)
    return [
        Peer("django-mailbox getmail", MAILBOX_APPS, MAILBOX_SETUP.format(uri=uri), "getmail", box.username),
        Peer("django-helpdesk get_email", HELPDESK_APPS, setup, "get_email", desk.username, HELPDESK_URLS),
    ]


def run_peer(python: Path, project: Path, peer: Peer, dovecot: Dovecot, count: int) -> Timing:
    """Migrate the peer's project, configure its mailbox, then time its mail command."""
    project.mkdir()
    (project / "bench_urls.py").write_text(peer.urls)
    (project / "bench_settings.py").write_text(
        SETTINGS.format(
            database=str(project / "db.sqlite3"),
            media=str(project / "media"),
            urls="bench_urls",
            apps=peer.apps,
        )
    )

    def django_admin(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - our own arguments
            [str(python), "-m", "django", *args, "--settings", "bench_settings"],
            cwd=project,
            env={"PYTHONPATH": str(project), "PATH": "/usr/bin:/bin"},
            capture_output=True,
            text=True,
            check=False,
        )

    for args in (("migrate", "--verbosity", "0"), ("shell", "-c", peer.setup)):
        done = django_admin(*args)
        if done.returncode != 0:
            raise SystemExit(f"{peer.name}: {' '.join(args[:1])} failed:\n{done.stderr[-3000:]}")
    started = time.perf_counter()
    done = django_admin(peer.command)
    seconds = time.perf_counter() - started
    left = messages_left(dovecot, peer.user)
    if done.returncode != 0 or left:
        raise SystemExit(
            f"{peer.name} exited {done.returncode} leaving {left} of {count} messages:\n{done.stderr[-3000:]}"
        )
    print(f"{peer.name}: {count} messages in {seconds:.1f} s", flush=True)
    return Timing(peer.name, seconds)


def messages_left(dovecot: Dovecot, username: str) -> int:
    with dovecot.imap(username) as client:
        return int(client.folder_status("INBOX", ["MESSAGES"])[b"MESSAGES"])


class Postroom:
    """Postroom's side: its own copy of the mail, a mailbox (Convert To Case when `process`) in a fresh
    SQLite database, and `sync` runs, each into a fresh copy of that database. A 2,000-message sync takes
    about 2 s, which a busy moment of this machine can stretch by half, so it runs before, between and
    after the peers (whose single runs take 15-70 s), and the median counts."""

    def __init__(self, dovecot: Dovecot, messages: list[bytes], work: Path, process: bool) -> None:
        from bench.scale import make_mailbox

        self.database = work / "postroom.sqlite3"
        self.pristine = work / "postroom-pristine.sqlite3"
        self.count = len(messages)
        self.work = work
        self.process = process
        self.runs: list[tuple[float, float]] = []  # (seconds, peak RSS in MB)
        _stack.setup_django(
            {"POSTROOM_DATA_DIR": str(work / "data"), "DATABASE_URL": f"sqlite:///{self.database}"}
        )
        _stack.migrate()
        user = seeded_user(dovecot, "postroom", messages)
        self.mailbox_id = make_mailbox(dovecot, user, 0, process=process)
        self._close()
        shutil.copyfile(self.database, self.pristine)

    def _close(self) -> None:
        """Close our connections and fold SQLite's log into the file, so the file alone is the database."""
        from django.db import connections

        connections.close_all()
        with closing(sqlite3.connect(self.database)) as db:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")

    def sync(self) -> None:
        """`postroom sync --once` of the whole mailbox into a fresh copy of the database."""
        self._close()
        for log in (self.database.with_name(self.database.name + suffix) for suffix in ("-wal", "-shm")):
            log.unlink(missing_ok=True)
        shutil.copyfile(self.pristine, self.database)
        rate, peak_mb = full_sync(self.mailbox_id, self.count, self.work)
        self.runs.append((self.count / rate, peak_mb))
        print(f"Postroom: sync {self.count / rate:.1f} s", flush=True)

    def timings(self) -> list[Timing]:
        """The median sync, then (when converting) the sync + the jobs that turn the last run's new threads
        into cases."""
        seconds = statistics.median(run[0] for run in self.runs)
        runs = " / ".join(f"{run[0]:.1f}" for run in self.runs)
        peak = max(run[1] for run in self.runs)
        sync = Timing("Postroom sync", seconds, f"median of {runs} s; peak RSS {peak:.0f} MB")
        if not self.process:
            return [sync]
        converting = convert(self.mailbox_id, self.count)
        print(f"Postroom: case conversion {converting:.1f} s", flush=True)
        note = f"sync {seconds:.1f} s + conversion {converting:.1f} s"
        return [sync, Timing("Postroom sync + Convert To Case", seconds + converting, note)]


def convert(mailbox_id: int, count: int) -> float:
    """Seconds to run every processing job of the mailbox in this process (as one worker thread would)."""
    from postroom.processing.models import InboundJob, JobStatus
    from postroom.processing.runner import run_due_jobs

    started = time.perf_counter()
    while run_due_jobs(mailbox_id=mailbox_id):
        pass
    seconds = time.perf_counter() - started
    unfinished = InboundJob.objects.exclude(status=JobStatus.DONE).count()
    if unfinished:
        raise SystemExit(f"Postroom: {unfinished} of {count} processing jobs did not finish")
    return seconds


def report(count: int, timings: list[Timing]) -> None:
    """Every contender's rate, and how many times faster Postroom is than each peer: with its sync alone
    (what django-mailbox does: store the mail) and with sync + Convert To Case (what django-helpdesk
    does: a ticket per message) when that ran."""
    ours = [timing for timing in timings if timing.name.startswith("Postroom")]
    print()
    print(f"Ingest of the same {count} messages from Dovecot, SQLite everywhere")
    header = "".join(f"{'x vs ' + timing.name.removeprefix('Postroom '):>28}" for timing in ours)
    print(f"{'contender':<34} {'seconds':>8} {'msg/s':>8}{header}")
    for timing in timings:
        versus = "" if timing in ours else "".join(f"{timing.seconds / o.seconds:>28.1f}" for o in ours)
        rate = count / timing.seconds
        print(f"{timing.name:<34} {timing.seconds:>8.1f} {rate:>8.1f}{versus}  {timing.note}".rstrip())
    print('("x vs": how many times faster that Postroom run is than the peer on the same mail)')


if __name__ == "__main__":
    sys.exit(main())
