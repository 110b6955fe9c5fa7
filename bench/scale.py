"""Scale-out ingest benchmark (issue 8): throughput of 1, 2 and 4 `postroom worker` processes on the
production stack, against a bare IMAP fetch of the same messages in the same run.

Usage (from the repository root; needs PostgreSQL and Redis on 127.0.0.1, and Debian's dovecot-imapd):

    .venv/bin/python -m bench.scale [--mailboxes 20] [--messages 5000] [--workers 1,2,4]

It starts a private Dovecot, seeds every mailbox (one organization each, so nothing is deduplicated
across them) with the same realistic mix as bench.sync (~50 KB average), creates a throwaway PostgreSQL
database and a private Redis queue, and then for each worker count K, on a fresh copy of the database:

  (a) bare fetch: K processes download every message of every mailbox with imaplib (bytes discarded);
  (b) Postroom: K real `postroom worker` processes (1 thread each by default) on PostgreSQL + Redis sync
      every mailbox (fetch, parse, store, thread) and process it (Convert To Case): timed from starting
      the workers until every message is stored ("stored") and every processing job is done and every
      body indexed for search ("processed"; the workers fill the body search vectors after each batch).
      With IDLE on (the default, as in production) the workers' IDLE watchers sync at once; with --no-idle
      a sync of every mailbox is put on the queue before the workers start, as the scheduler would.

It prints, per K: msg/s of (a) and (b), the stored rate's ratio to the bare fetch, the processed rate per
worker and its ratios to the bare fetch by K processes and by one, speed-up over one worker,
peak RSS per worker (process + its parse helpers, sampled), how many mailboxes each worker was seen
syncing and holding the IDLE watch of, and the CPU used during (b) by the workers, PostgreSQL (the run
database's backends, and all its processes), our Dovecot and Redis, in cores of this machine: the busiest
is what saturates first. The databases and queue keys are removed afterwards (--logs keeps the workers'
logs).
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from bench import _procs, _stack
from bench.sync import bare_fetch, realistic_messages
from tests.servers.dovecot import Credentials, Dovecot

# Rough rates for the wall-time estimate printed up front (a busy 2-core machine).
SEED_RATE, BARE_RATE, WORKER_RATE = 3_000, 4_000, 500
SAMPLE_SECONDS = 0.5
STALL_SECONDS = 180


@dataclass
class Plan:
    mailboxes: int
    messages: int
    worker_counts: list[int]
    threads: int
    idle: bool
    process: bool
    batch: int
    postgres: str
    redis: str
    timeout: float
    logs: Path | None

    @property
    def total(self) -> int:
        return self.mailboxes * self.messages

    def estimate_minutes(self) -> float:
        seconds = self.total / SEED_RATE + sum(
            self.total / BARE_RATE + self.total / (WORKER_RATE * min(k, 2)) for k in self.worker_counts
        )
        return seconds / 60


@dataclass
class Result:
    workers: int
    bare_rate: float
    startup: float
    stored_seconds: float
    processed_seconds: float
    cpu: dict[str, float]
    wall: float
    peak_rss: list[float]
    mailboxes_per_worker: list[int]
    watched_per_worker: list[int]
    errors: list[str] = field(default_factory=list)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mailboxes", type=int, default=20, help="mailboxes (default 20)")
    parser.add_argument("--messages", type=int, default=5_000, help="messages per mailbox (default 5000)")
    parser.add_argument("--workers", default="1,2,4", help="worker process counts (default 1,2,4)")
    parser.add_argument("--threads", type=int, default=1, help="threads per worker process (default 1)")
    parser.add_argument(
        "--idle",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="POSTROOM_IDLE in the workers (default on, as in production); --no-idle leaves every sync "
        "to the queue",
    )
    parser.add_argument(
        "--process",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="mailboxes Convert To Case (default on); --no-process only syncs",
    )
    parser.add_argument("--batch", type=int, default=250, help="messages per FETCH in the bare fetch")
    _stack.add_server_options(parser)
    parser.add_argument("--timeout", type=float, default=3600, help="seconds per worker count at most")
    parser.add_argument("--logs", type=Path, help="keep the workers' logs in this directory")
    args = parser.parse_args()
    plan = Plan(
        args.mailboxes,
        args.messages,
        [int(k) for k in args.workers.split(",")],
        args.threads,
        args.idle,
        args.process,
        args.batch,
        args.postgres,
        args.redis,
        args.timeout,
        args.logs,
    )
    print(
        f"scale: {plan.mailboxes} mailboxes x {plan.messages} messages = {plan.total} messages, "
        f"workers {plan.worker_counts} ({plan.threads} thread(s) each), IDLE {'on' if plan.idle else 'off'}, "
        f"Convert To Case {'on' if plan.process else 'off'}; "
        f"expect roughly {plan.estimate_minutes():.0f} min of wall time",
        flush=True,
    )
    with _stack.scratch_run("postroom-bench-scale-") as work:
        results = run(plan, work)
        report(plan, results)
    return 0 if all(not r.errors for r in results) else 1


def run(plan: Plan, work: Path) -> list[Result]:
    with _stack.production_stack(
        work, plan.postgres, plan.redis, "bench_scale", plan.idle, plan.logs
    ) as stack:
        users = seed(stack.dovecot, plan)
        mailbox_ids = [make_mailbox(stack.dovecot, user, i, plan.process) for i, user in enumerate(users)]
        _stack.release_database()  # the database is the template of every run's copy
        return [measure(plan, k, stack, users, mailbox_ids) for k in plan.worker_counts]


def seed(dovecot: Dovecot, plan: Plan) -> list[Credentials]:
    """One Dovecot user per mailbox, each with the same messages (written into the Maildir, then indexed
    by Dovecot once, so neither contender pays for the first look)."""
    from tests.sync_helpers import seed_maildir

    started = time.perf_counter()
    messages = list(realistic_messages(plan.messages))
    users = []
    for index in range(plan.mailboxes):
        user = dovecot.add_user(f"box{index}@example.test", f"bench-pw-{index}")
        seed_maildir(dovecot, user, messages)
        with dovecot.imap(user.username) as client:
            client.select_folder("INBOX", readonly=True)
        users.append(user)
    average = sum(len(raw) for raw in messages) / len(messages) / 1024
    print(
        f"seeded {plan.mailboxes} x {plan.messages} messages ({average:.1f} KB average) in "
        f"{time.perf_counter() - started:.0f} s",
        flush=True,
    )
    return users


def make_mailbox(dovecot: Dovecot, user: Credentials, index: int, process: bool) -> int:
    """A mailbox in an organization of its own, INBOX ticked; Convert To Case when `process`."""
    from tests.factories import make_org, make_user
    from tests.processing_helpers import ENABLED_AT, folder_of
    from tests.sync_helpers import imap_mailbox

    org = make_org(f"bench-{index}")
    extra: dict[str, object] = {}
    if process:
        owner = make_user(f"owner{index}@bench.example", org, admin=True)
        extra = {"process_type": "case", "owner": owner, "processing_enabled_at": ENABLED_AT}
    mailbox = imap_mailbox(org, dovecot, user, label=f"Box {index}", **extra)
    folder_of(mailbox)
    return mailbox.pk


def fetch_mailboxes(port: int, users: list[Credentials], batch: int, expected: int) -> None:
    for user in users:
        bare_fetch(port, user.username, user.password, batch, expected)


def parallel_bare_fetch(dovecot: Dovecot, users: list[Credentials], plan: Plan, k: int) -> float:
    """msg/s of K processes fetching every message of every mailbox (mailboxes dealt round robin)."""
    shares = [users[i::k] for i in range(k)]
    started = time.perf_counter()
    with ProcessPoolExecutor(max_workers=k) as pool:
        for done in [
            pool.submit(fetch_mailboxes, dovecot.imap_port, share, plan.batch, plan.messages)
            for share in shares
        ]:
            done.result()
    return plan.total / (time.perf_counter() - started)


def measure(
    plan: Plan, k: int, stack: _stack.Stack, users: list[Credentials], mailbox_ids: list[int]
) -> Result:
    name = _stack.unique_name("bench_scale_run")
    url = _stack.create_database(plan.postgres, name, template=stack.database)
    _stack.use_database(name)
    try:
        bare_rate = parallel_bare_fetch(stack.dovecot, users, plan, k)
        print(f"[{k} worker(s)] bare fetch: {bare_rate:,.0f} msg/s", flush=True)
        _stack.flush_queue(plan.redis, stack.env["POSTROOM_QUEUE_NAME"])  # nothing left from the last run
        workers = _stack.Workers(k, stack.env | {"DATABASE_URL": url}, stack.logs, threads=plan.threads)
        if not plan.idle:
            queue_syncs(mailbox_ids)
        result = ingest(plan, k, workers, stack.dovecot, name)
        result.bare_rate = bare_rate
        print(
            f"[{k} worker(s)] stored in {result.stored_seconds:.1f} s, processed in "
            f"{result.processed_seconds:.1f} s",
            flush=True,
        )
        return result
    finally:
        _stack.release_database()
        _stack.drop_database(plan.postgres, name)


def queue_syncs(mailbox_ids: list[int]) -> None:
    """Without IDLE, put a sync of every mailbox on the queue, as the scheduler's periodic task does."""
    from postroom.sync.tasks import sync_mailbox_task

    for mailbox_id in mailbox_ids:
        sync_mailbox_task(mailbox_id)


def ingest(plan: Plan, k: int, workers: _stack.Workers, dovecot: Dovecot, database: str) -> Result:
    """Start the workers and sample until everything is stored and processed (or it stalls)."""
    meter = _procs.stack_meter(lambda: workers.pids, dovecot.config_path, database)
    meter.start()
    started = time.perf_counter()
    workers.start()
    try:
        startup = workers.wait_started()
        sampler = Sampler(plan.total, plan.process, workers.pids)
        while not sampler.finished():
            now = time.perf_counter() - started
            if now > plan.timeout or sampler.stalled():
                sampler.errors.append(f"gave up after {now:.0f} s: {sampler.describe()}")
                break
            time.sleep(SAMPLE_SECONDS)
            sampler.sample(time.perf_counter() - started)
        wall = time.perf_counter() - started
        cpu = meter.stop()
        peaks = [max(sampler.peak_rss[pid], _procs.peak_rss_mb(pid)) for pid in workers.pids]
    finally:
        workers.stop()
    return Result(
        workers=k,
        bare_rate=0.0,
        startup=startup,
        stored_seconds=sampler.stored_at or wall,
        processed_seconds=sampler.processed_at or wall,
        cpu=cpu,
        wall=wall,
        peak_rss=peaks,
        mailboxes_per_worker=[len(sampler.synced_by[pid]) for pid in workers.pids],
        watched_per_worker=[len(sampler.watched_by[pid]) for pid in workers.pids],
        errors=sampler.errors + sampler.sync_errors(),
    )


class Sampler:
    """Progress of the run from the database (stored placements, unfinished jobs, who holds which
    mailbox's sync lease) and the workers' memory from /proc."""

    def __init__(self, expected: int, process: bool, pids: list[int]) -> None:
        self.expected = expected
        self.process = process
        self.pids = pids
        self.stored = 0
        self.unfinished = 0
        self.stored_at: float | None = None
        self.processed_at: float | None = None
        self.synced_by: dict[int, set[int]] = {pid: set() for pid in pids}
        self.watched_by: dict[int, set[int]] = {pid: set() for pid in pids}
        self.peak_rss: dict[int, float] = dict.fromkeys(pids, 0.0)
        self.errors: list[str] = []
        self._progress_at = time.perf_counter()

    def sample(self, elapsed: float) -> None:
        from postroom.messages import search_index
        from postroom.processing.models import InboundJob, JobStatus
        from postroom.sync.models import MailboxSyncState, Placement

        stored = Placement.objects.count()
        unfinished = InboundJob.objects.filter(status__in=[JobStatus.PENDING, JobStatus.RUNNING]).count()
        unfinished += search_index.pending()  # bodies the workers have not indexed for search yet
        if (stored, unfinished) != (self.stored, self.unfinished):
            self._progress_at = time.perf_counter()
        self.stored, self.unfinished = stored, unfinished
        for mailbox_id, owner, watcher in MailboxSyncState.objects.values_list(
            "mailbox_id", "lease_owner", "idle_owner"
        ):
            for holder, held in ((owner, self.synced_by), (watcher, self.watched_by)):
                pid = int(holder.split(":")[1]) if holder else 0
                if pid in held:
                    held[pid].add(mailbox_id)
        for pid in self.pids:
            total = sum(_procs.rss_mb(child) for child in _procs.tree([pid]))
            self.peak_rss[pid] = max(self.peak_rss[pid], total)
        if self.stored_at is None and stored >= self.expected:
            self.stored_at = elapsed
        if self.stored_at is not None and self.processed_at is None and not (self.process and unfinished):
            self.processed_at = elapsed

    def finished(self) -> bool:
        return self.processed_at is not None

    def stalled(self) -> bool:
        return time.perf_counter() - self._progress_at > STALL_SECONDS

    def describe(self) -> str:
        return f"{self.stored}/{self.expected} stored, {self.unfinished} jobs and bodies to index unfinished"

    def sync_errors(self) -> list[str]:
        from postroom.sync.models import MailboxSyncState

        failing = MailboxSyncState.objects.exclude(last_error="").values_list("mailbox_id", "last_error")
        return [f"mailbox {mailbox_id}: {error}" for mailbox_id, error in failing]


def report(plan: Plan, results: list[Result]) -> None:
    one = next((r for r in results if r.workers == 1), None)
    bare_one = one.bare_rate if one else results[0].bare_rate
    print()
    print(f"Ingest of {plan.mailboxes} x {plan.messages} messages on PostgreSQL + Redis")
    header = (
        f"{'workers':>7} {'bare msg/s':>10} {'stored msg/s':>12} {'stored/bare':>11} "
        f"{'processed msg/s':>15} {'per worker':>10} {'/bare(K)':>8} {'/bare(1)':>8} {'speed-up':>8} "
        f"{'start s':>7}  peak RSS MB per worker"
    )
    print(header)
    for r in results:
        stored = plan.total / r.stored_seconds
        processed = plan.total / r.processed_seconds
        speedup = processed / (plan.total / one.processed_seconds) if one else 0.0
        print(
            f"{r.workers:>7} {r.bare_rate:>10,.0f} {stored:>12,.0f} {stored / r.bare_rate:>11.3f} "
            f"{processed:>15,.0f} {processed / r.workers:>10,.0f} {processed / r.bare_rate:>8.3f} "
            f"{processed / bare_one:>8.3f} "
            f"{speedup:>8.2f} {r.startup:>7.1f}  {', '.join(f'{mb:.0f}' for mb in r.peak_rss)}"
        )
    print()
    print(
        "CPU during the Postroom run, in cores (this machine has 2); mailboxes each worker was seen "
        "syncing (sampled) and holding the IDLE watch of"
    )
    print(
        f"{'workers':>7} {'workers':>8} {'pg (db)':>8} {'pg (all)':>8} {'dovecot':>8} {'redis':>6} "
        f"{'machine':>8}  busiest"
    )
    for r in results:
        cores = {name: seconds / r.wall for name, seconds in r.cpu.items()}
        busiest = max(("workers", "postgres-db", "dovecot", "redis"), key=lambda name: cores[name])
        print(
            f"{r.workers:>7} {cores['workers']:>8.2f} {cores['postgres-db']:>8.2f} {cores['postgres']:>8.2f} "
            f"{cores['dovecot']:>8.2f} {cores['redis']:>6.2f} {cores['machine']:>8.2f}  {busiest:<11} "
            f"syncing: {r.mailboxes_per_worker}  IDLE: {r.watched_per_worker}"
        )
    for r in results:
        for error in r.errors:
            print(f"[{r.workers} worker(s)] ERROR {error}")


if __name__ == "__main__":
    sys.exit(main())
