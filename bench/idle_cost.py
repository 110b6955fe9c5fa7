"""Idle cost benchmark (issue 8): what polling unchanged mailboxes costs, in CPU seconds per
mailbox-minute, for the workers, Redis and PostgreSQL (and the mail server, for the record).

Usage (from the repository root; needs PostgreSQL and Redis on 127.0.0.1, and Debian's dovecot-imapd):

    .venv/bin/python -m bench.idle_cost [--mailboxes 1000] [--minutes 10] [--workers 2] [--threads 2]

It starts a private Dovecot with one user per mailbox (a few messages each), a throwaway PostgreSQL
database and a private Redis queue, one organization per mailbox with the default sync interval (1
minute), and real `postroom worker` processes (IDLE off by default, so every mailbox is polled by the
scheduler; --idle adds the IDLE watchers). It waits until every mailbox has synced once (its first, full
sync), then measures MINUTES minutes of the steady state in which nothing changes: CPU seconds of the
workers, of every PostgreSQL process, of Redis and of our Dovecot, read from /proc before and after (a
server's exited children count through its cutime/cstime). It prints CPU seconds per mailbox-minute for
each, and how many syncs ran per mailbox-minute (should be ~1: the poll really happened).
Target: well under 0.1 CPU-seconds per mailbox-minute in total.

PostgreSQL and Redis are counted whole: run it on an otherwise idle machine ("machine" in the output
is every process's CPU, to tell).
"""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from bench import _procs, _stack
from bench.sync import realistic_messages
from tests.servers.dovecot import Dovecot

GROUPS = {
    "workers": "postroom workers",
    "postgres-db": "PostgreSQL: our database's backends (*)",
    "postgres": "PostgreSQL: all processes",
    "redis": "Redis",
    "dovecot": "Dovecot",
}
TOTALLED = ("workers", "postgres", "redis", "dovecot")
Measured = tuple[dict[str, float], int, float]  # CPU seconds per group, sync runs, seconds


@dataclass
class Options:
    mailboxes: int
    minutes: float
    messages: int
    workers: int
    threads: int
    idle: bool
    postgres: str
    redis: str


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=1_000, help="mailboxes (default 1000)")
    parser.add_argument("--minutes", type=float, default=10, help="minutes measured (default 10)")
    parser.add_argument("--messages", type=int, default=5, help="messages in each mailbox (default 5)")
    parser.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    parser.add_argument("--threads", type=int, default=2, help="threads per worker (default 2)")
    parser.add_argument(
        "--idle",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="POSTROOM_IDLE in the workers (default off: polling only). Dovecot's default limit of 100 "
        "imap processes caps the IDLE watchers",
    )
    _stack.add_server_options(parser)
    args = parser.parse_args()
    options = Options(
        args.mailboxes,
        args.minutes,
        args.messages,
        args.workers,
        args.threads,
        args.idle,
        args.postgres,
        args.redis,
    )
    setup_minutes = 1 + options.mailboxes / 600  # seed, create, first sync (after the next minute)
    print(
        f"idle_cost: {options.mailboxes} unchanged mailboxes polled for {options.minutes:g} min by "
        f"{options.workers} worker(s) x {options.threads} thread(s), IDLE {'on' if options.idle else 'off'}; "
        f"expect roughly {setup_minutes + options.minutes:.0f} min of wall time",
        flush=True,
    )
    with _stack.scratch_run("postroom-bench-idle-") as work:
        used, syncs, seconds = run(options, work)
        report(options, used, syncs, seconds)
    return 0


def run(options: Options, work: Path) -> Measured:
    with _stack.production_stack(work, options.postgres, options.redis, "bench_idle", options.idle) as stack:
        make_mailboxes(stack.dovecot, options)
        workers = _stack.Workers(options.workers, stack.env, stack.logs, threads=options.threads)
        workers.start()
        try:
            workers.wait_started()
            wait_for_first_syncs(options.mailboxes)
            return measure(options, workers, stack.dovecot, stack.database)
        finally:
            workers.stop()


def make_mailboxes(dovecot: Dovecot, options: Options) -> None:
    """One Dovecot user with a few messages and one organization with its mailbox (INBOX ticked) each."""
    from tests.factories import make_org
    from tests.processing_helpers import folder_of
    from tests.sync_helpers import imap_mailbox, seed_maildir

    started = time.perf_counter()
    messages = list(realistic_messages(options.messages))
    for index in range(options.mailboxes):
        user = dovecot.add_user(f"idle{index}@example.test", f"idle-pw-{index}")
        seed_maildir(dovecot, user, messages)
        org = make_org(f"idle-{index}")
        folder_of(imap_mailbox(org, dovecot, user, label=f"Idle {index}"))
    print(f"created {options.mailboxes} mailboxes in {time.perf_counter() - started:.0f} s", flush=True)


def wait_for_first_syncs(expected: int, timeout: float = 1800) -> None:
    """Until every mailbox has had a good sync (the first sync takes all its mail: not the idle state)."""
    from postroom.sync.models import MailboxSyncState

    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        synced = MailboxSyncState.objects.filter(last_success_at__isnull=False).count()
        if synced >= expected:
            print(f"first sync of every mailbox done after {time.perf_counter() - started:.0f} s", flush=True)
            return
        time.sleep(2)
    raise SystemExit(f"only {synced} of {expected} mailboxes synced within {timeout:.0f} s")


def measure(options: Options, workers: _stack.Workers, dovecot: Dovecot, database: str) -> Measured:
    """CPU seconds per group and sync runs over MINUTES minutes of the steady state."""
    from django.db.models import Sum

    from postroom.sync.models import MailboxSyncState

    meter = _procs.stack_meter(lambda: workers.pids, dovecot.config_path, database)

    def runs() -> int:
        return int(MailboxSyncState.objects.aggregate(total=Sum("runs"))["total"] or 0)

    runs_before = runs()
    meter.start()
    started = time.perf_counter()
    time.sleep(options.minutes * 60)
    used = meter.stop()
    seconds = time.perf_counter() - started
    return used, runs() - runs_before, seconds


def report(options: Options, used: dict[str, float], syncs: int, seconds: float) -> None:
    mailbox_minutes = options.mailboxes * seconds / 60
    print()
    print(
        f"Idle cost of {options.mailboxes} unchanged mailboxes over {seconds / 60:.1f} min "
        f"({syncs} syncs, {syncs / mailbox_minutes:.2f} per mailbox-minute)"
    )
    print(f"{'process':<44} {'CPU s':>8} {'CPU s per mailbox-minute':>25} {'cores':>6}")
    total = sum(used[name] for name in TOTALLED)
    rows = [
        *((label, used[name]) for name, label in GROUPS.items()),
        ("total: workers, PostgreSQL, Redis, Dovecot", total),
        ("machine: every process", used["machine"]),
    ]
    for label, cpu in rows:
        print(f"{label:<44} {cpu:>8.1f} {cpu / mailbox_minutes:>25.4f} {cpu / seconds:>6.2f}")
    print("(*) backends alive at the end: a lower bound, a connection closed in between is missed")


if __name__ == "__main__":
    sys.exit(main())
