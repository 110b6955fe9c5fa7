"""Sync throughput benchmark: how close does a full Postroom sync come to the raw speed of IMAP, and to
mbsync mirroring the same folder to disk?

Usage (from the repository root; needs Debian's dovecot-imapd and isync, apt-get installed on first use):

    .venv/bin/python -m bench.sync [-n 20000] [--batch 250] [--mbsync-fsync]
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postroom .venv/bin/python -m bench.sync

The sync writes to a fresh SQLite database in a temp directory, or, when DATABASE_URL names a PostgreSQL
server, to a fresh database created on that server next to the one named (and dropped afterwards).

It starts a private Dovecot on loopback (the test servers' code), seeds one folder with N realistic
messages by writing Maildir files directly (sizes mixed to average ~50 KB: short notes, HTML newsletters,
mail with attachments; UTF-8, ISO-8859-1, windows-1252 and Shift_JIS bodies; about a third are replies in
threads), then times in one run:

  (a) a bare imaplib fetch of every message (UID SEARCH ALL, then UID FETCH BODY.PEEK[] in batches, bytes
      discarded): the ceiling set by the server and the network stack;
  (c) mbsync (isync) pulling the folder into a fresh Maildir (`mbsync -c rc -a` in a child process, start
      to exit; plain IMAP, Sync Pull, Create Near, sync state in the temp dir), then checking the Maildir
      holds exactly N messages: a C mail mirror that only writes each message to a file. It runs with
      FSync no, as Postroom does not flush per message either; --mbsync-fsync keeps mbsync's default
      FSync yes, which flushes every file and is many times slower;
  (b) the full Postroom sync of the same folder (`postroom sync --mailbox ID --once` in a child process,
      fresh database): fetch, parse, identity, threads, raw + bodies + attachments, placements,
      checkpoints.

It prints msg/s for each, the ratios (b)/(a) and (b)/(c), and the sync's peak RSS (of the child process,
from wait4). On PostgreSQL the body search vectors are filled after each batch commits, by the workers
(`postroom.messages.search_index`): an indexer thread does that here while (b) runs, and (d) is the rate
until every message is synced and searchable. Targets: sync >= 1,000 msg/s (ratio to (a) >= 0.1), faster
than mbsync (ratio to (c) > 1), peak RSS < 300 MB and flat in N (run with two N to see).
Everything lives in a temp directory that is removed afterwards.
"""

from __future__ import annotations

import argparse
import imaplib
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import format_datetime, make_msgid
from pathlib import Path
from urllib.parse import urlsplit

MBSYNC = Path("/usr/bin/mbsync")
SEED = 20260301
BODY_WORDS = (
    "order invoice delivery support ticket question thanks regards meeting schedule price offer "
    "contract renewal account password reset shipment tracking refund warranty Grüße déjà naïve café"
).split()
CHARSETS = [
    ("utf-8", "Grüße aus München — déjà vu €"),
    ("iso-8859-1", "Déjà vu, garçon"),
    ("windows-1252", "Smart “quotes” – dash"),
    ("shift_jis", "お問い合わせありがとうございます"),
]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20_000, help="messages to seed (default 20000)")
    parser.add_argument("--batch", type=int, default=250, help="messages per FETCH in the bare fetch")
    parser.add_argument(
        "--mbsync-fsync", action="store_true", help="run mbsync with its default FSync yes (much slower)"
    )
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="postroom-bench-"))
    try:
        return run(args.n, args.batch, args.mbsync_fsync, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(n: int, batch: int, mbsync_fsync: bool, work: Path) -> int:
    server = os.environ.get("DATABASE_URL", "")
    if not server.startswith(("postgres://", "postgresql://")):
        return run_on(f"sqlite:///{work / 'bench.sqlite3'}", n, batch, mbsync_fsync, work)
    with fresh_postgres_database(server) as url:
        return run_on(url, n, batch, mbsync_fsync, work)


@contextmanager
def fresh_postgres_database(server_url: str) -> Iterator[str]:
    """The URL of a new, empty database on the server of `server_url`, dropped afterwards."""
    import psycopg

    parts = urlsplit(server_url)
    name = f"postroom_bench_sync_{os.getpid()}"
    admin = parts._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
    try:
        yield parts._replace(path=f"/{name}").geturl()
    finally:
        with psycopg.connect(admin, autocommit=True) as connection:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_on(database_url: str, n: int, batch: int, mbsync_fsync: bool, work: Path) -> int:
    os.environ["POSTROOM_DATA_DIR"] = str(work / "data")
    os.environ["DATABASE_URL"] = database_url
    os.environ["DJANGO_SETTINGS_MODULE"] = "postroom.settings"
    import django

    django.setup()
    from django.core.management import call_command

    from tests.servers.certs import make_certificates
    from tests.servers.fixtures import running_dovecot
    from tests.sync_helpers import seed_maildir

    call_command("migrate", interactive=False, verbosity=0)
    (work / "certs").mkdir()
    with running_dovecot(make_certificates(work / "certs")) as dovecot:
        user = dovecot.add_user("bench@example.test", "bench-pw-1")
        started = time.perf_counter()
        total_bytes = 0

        def counted() -> Iterator[bytes]:
            nonlocal total_bytes
            for raw in realistic_messages(n):
                total_bytes += len(raw)
                yield raw

        seed_maildir(dovecot, user, counted())
        seconds = time.perf_counter() - started
        print(f"seeded {n} messages, {total_bytes / n / 1024:.1f} KB average, in {seconds:.1f} s")
        bare_rate = bare_fetch(dovecot.imap_port, user.username, user.password, batch, n)
        mbsync_rate = mbsync_mirror(dovecot.imap_port, user.username, user.password, n, work, mbsync_fsync)
        mailbox_id = make_mailbox(dovecot.imap_port, user.username, user.password)
        with ConcurrentIndexer() as indexer:
            sync_rate, peak_mb = full_sync(mailbox_id, n, work)
    print(f"(a) bare imaplib fetch: {bare_rate:,.0f} msg/s")
    print(f"(c) mbsync to a Maildir: {mbsync_rate:,.0f} msg/s (FSync {'yes' if mbsync_fsync else 'no'})")
    vendor = database_url.split(":", 1)[0]
    print(f"(b) full Postroom sync: {sync_rate:,.0f} msg/s, peak RSS {peak_mb:.0f} MB ({vendor})")
    print(f"ratio (b)/(a): {sync_rate / bare_rate:.2f}")
    print(f"Postroom (b)/(c): {sync_rate / mbsync_rate:.2f}")
    if indexer.indexed:
        searchable = n / indexer.seconds
        print(
            f"(d) synced and searchable (body vectors filled by a concurrent indexer, as a worker does):"
            f" {searchable:,.0f} msg/s, ratio to (a) {searchable / bare_rate:.2f};"
            f" {indexer.after_sync:.1f} s of indexing after the sync ended"
        )
    return 0


class ConcurrentIndexer:
    """Fills body search vectors while the sync runs, as a worker's indexing task does after each batch
    (PostgreSQL; SQLite indexes inside the sync, so this finds nothing to do). On leaving it drains what is
    left; `seconds` is from entering until everything is searchable, `after_sync` the drain's part."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.indexed = 0
        self.seconds = self.after_sync = 0.0
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ConcurrentIndexer:
        self._started = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        from postroom.messages import search_index

        ended = time.perf_counter()
        self.stop.set()
        self._thread.join()
        self.indexed += search_index.index_pending()
        self.seconds = time.perf_counter() - self._started
        self.after_sync = time.perf_counter() - ended

    def _run(self) -> None:
        from django.db import connection

        from postroom.messages import search_index

        try:
            while not self.stop.wait(0.2):
                self.indexed += search_index.index_pending()
        finally:
            connection.close()


def realistic_messages(n: int) -> Iterator[bytes]:
    """N deterministic messages: 60% short text, 30% HTML, 10% with a 100-300 KB attachment."""
    rng = random.Random(SEED)  # noqa: S311 - reproducible test data, not secrets
    recent: list[str] = []
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i in range(n):
        msg = EmailMessage()
        charset, greeting = CHARSETS[i % len(CHARSETS)]
        msg["From"] = f"Customer {i % 700} <customer{i % 700}@example.org>"
        msg["To"] = "Support <support@acme.example>"
        msg["Date"] = format_datetime(start + timedelta(minutes=i))
        msg_id = make_msgid(domain="bench.example")
        msg["Message-ID"] = msg_id
        if recent and rng.random() < 0.35:
            parent = rng.choice(recent)
            msg["Subject"] = f"Re: Question {hash(parent) % 1000}"
            msg["In-Reply-To"] = parent
            msg["References"] = parent
        else:
            msg["Subject"] = f"Question {i} {greeting}"
        recent = (recent + [msg_id])[-200:]
        text = greeting + "\n" + words(rng, rng.randint(300, 1500)) + "\n"
        kind = rng.random()
        if kind < 0.6:  # a legacy charset: keep only what it can say
            msg.set_content(text.encode(charset, "replace").decode(charset), charset=charset)
        else:
            msg.set_content(text, charset="utf-8")
        if kind >= 0.6:
            msg.add_alternative(html(rng, text), subtype="html")
        if kind >= 0.9:
            msg.add_attachment(
                rng.randbytes(rng.randint(100_000, 300_000)),
                maintype="application",
                subtype="pdf",
                filename=f"document-{i}.pdf",
            )
        yield msg.as_bytes(policy=SMTP)


def words(rng: random.Random, count: int) -> str:
    return " ".join(rng.choice(BODY_WORDS) for _ in range(count))


def html(rng: random.Random, text: str) -> str:
    rows = "".join(f"<tr><td>{words(rng, 8)}</td><td>{rng.randint(1, 999)}</td></tr>" for _ in range(200))
    return f"<html><body><p>{text}</p><table>{rows}</table></body></html>"


def bare_fetch(port: int, username: str, password: str, batch: int, expected: int) -> float:
    """msg/s of the plainest possible download of every message (bytes discarded)."""
    started = time.perf_counter()
    imap = imaplib.IMAP4("127.0.0.1", port)
    imap.login(username, password)
    imap.select("INBOX", readonly=True)
    _typ, found = imap.uid("SEARCH", "ALL")
    uids = found[0].split()
    fetched = 0
    for start in range(0, len(uids), batch):
        chunk = b",".join(uids[start : start + batch]).decode()
        _typ, data = imap.uid("FETCH", chunk, "(UID BODY.PEEK[])")
        fetched += sum(1 for item in data if isinstance(item, tuple))
    imap.logout()
    elapsed = time.perf_counter() - started
    if fetched != expected:
        raise SystemExit(f"bare fetch got {fetched} messages, expected {expected}")
    return fetched / elapsed


def ensure_mbsync() -> None:
    """Install Debian's isync (which provides mbsync) on first use."""
    from tests.servers.apt import ensure_package

    ensure_package(MBSYNC, "isync")


def mbsync_mirror(port: int, username: str, password: str, expected: int, work: Path, fsync: bool) -> float:
    """msg/s of `mbsync` pulling INBOX into a fresh Maildir, in a child process, from start to exit."""
    ensure_mbsync()
    root = work / "mbsync"
    (root / "state").mkdir(parents=True)
    (root / "Maildir").mkdir()  # mbsync creates the folders (Create Near), not the store root
    config = root / "mbsyncrc"
    config.write_text(mbsyncrc(port, username, password, root, fsync))
    log = root / "mbsync.log"
    started = time.perf_counter()
    with log.open("wb") as output:  # a file, not a pipe: nothing reads while we wait
        child = subprocess.Popen(  # noqa: S603 - fixed argv, our own config
            [str(MBSYNC), "-c", str(config), "-a"], stdout=output, stderr=subprocess.STDOUT
        )
        status = child.wait()
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"mbsync failed: {log.read_text(errors='replace')}")
    inbox = root / "Maildir" / "INBOX"
    stored = sum(1 for sub in ("cur", "new") for _ in (inbox / sub).iterdir())
    if stored != expected:
        raise SystemExit(f"mbsync stored {stored} messages, expected {expected}")
    return expected / elapsed


def mbsyncrc(port: int, username: str, password: str, root: Path, fsync: bool) -> str:
    """A one-way mirror of INBOX into root/Maildir, sync state kept in root/state, over plain IMAP as
    the bare fetch and the Postroom sync use.

    Without `fsync`, FSync no: mbsync's default (yes) flushes every message file to disk, which Postroom
    does not do (it commits per batch, and SQLite in WAL mode with synchronous=NORMAL syncs only at
    checkpoints), and on the development machine it made mbsync 7-12 times slower: a baseline that would
    flatter us."""
    return f"""FSync {"yes" if fsync else "no"}

IMAPAccount bench
Host 127.0.0.1
Port {port}
User "{username}"
Pass "{password}"
SSLType None

IMAPStore remote
Account bench

MaildirStore local
Path {root}/Maildir/
Inbox {root}/Maildir/INBOX

Channel bench
Far :remote:
Near :local:
Patterns INBOX
Create Near
Sync Pull
SyncState {root}/state/
"""


def make_mailbox(port: int, username: str, password: str) -> int:
    from postroom.mailboxes.models import Mailbox
    from postroom.organizations.models import Organization
    from postroom.sync.models import Folder

    org = Organization.objects.create(slug="bench", name="Bench")
    mailbox = Mailbox(
        organization=org,
        label="Bench",
        email="bench@example.test",
        imap_host="127.0.0.1",
        imap_port=port,
        imap_encryption="none",
        username=username,
    )
    mailbox.set_password(password)
    mailbox.save()
    Folder.objects.create(
        organization=org, mailbox=mailbox, name="INBOX", display_name="INBOX", selected=True, kind="inbox"
    )
    return mailbox.pk


def full_sync(mailbox_id: int, expected: int, work: Path) -> tuple[float, float]:
    """(msg/s, peak RSS in MB) of `postroom sync --once` for the mailbox, in a child process."""
    from postroom.sync.models import Placement

    script = Path(sys.executable).parent / "postroom"
    started = time.perf_counter()
    child = subprocess.Popen(  # noqa: S603 - our own console script
        [str(script), "sync", "--mailbox", str(mailbox_id), "--once"], stdout=subprocess.PIPE, text=True
    )
    _pid, status, usage = os.wait4(child.pid, 0)
    elapsed = time.perf_counter() - started
    output = child.stdout.read() if child.stdout else ""
    if status != 0:
        raise SystemExit(f"sync failed: {output}")
    stored = Placement.objects.filter(mailbox_id=mailbox_id).count()
    if stored != expected:
        raise SystemExit(f"sync stored {stored} placements, expected {expected}: {output}")
    return expected / elapsed, usage.ru_maxrss / 1024


if __name__ == "__main__":
    sys.exit(main())
