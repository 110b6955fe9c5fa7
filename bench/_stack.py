"""The production stack the scale-out benchmarks run: a throwaway PostgreSQL database, a private Redis
queue, Django set up in the benchmark process, and real `postroom worker` processes.

Nothing here touches data that is not the benchmark's own: databases are created with a random name and
dropped afterwards, the queue has a random name and its keys are deleted afterwards.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from bench import _procs
from tests.servers.certs import TestCertificates
from tests.servers.dovecot import Dovecot

POSTGRES_URL = "postgres://postgres@127.0.0.1:5432/postgres"
REDIS_URL = "redis://127.0.0.1:6379/0"
STARTED_LINE = "Postroom worker started"


def add_server_options(parser: argparse.ArgumentParser) -> None:
    """--postgres and --redis: the servers a benchmark makes its throwaway database and queue on."""
    parser.add_argument("--postgres", default=POSTGRES_URL, help="PostgreSQL server (any database)")
    parser.add_argument("--redis", default=REDIS_URL, help="Redis (a private queue name is used)")


@contextmanager
def scratch_run(prefix: str) -> Iterator[Path]:
    """A scratch directory for one benchmark run, removed afterwards; the run's wall time is printed when
    it ends without an exception."""
    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)
    print(f"wall time {(time.perf_counter() - started) / 60:.1f} min")


@contextmanager
def data_dir(prefix: str) -> Iterator[Path]:
    """POSTROOM_DATA_DIR for a benchmark run in this process: the one set, else a scratch directory that
    is removed afterwards (with the SQLite database the run made in it)."""
    given = os.environ.get("POSTROOM_DATA_DIR")
    if given:
        yield Path(given)
        return
    work = Path(tempfile.mkdtemp(prefix=prefix))
    os.environ["POSTROOM_DATA_DIR"] = str(work)
    try:
        yield work
    finally:
        shutil.rmtree(work, ignore_errors=True)


def database_url(server_url: str, name: str) -> str:
    """`server_url` pointing at database `name` instead."""
    parts = urlsplit(server_url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def _admin(server_url: str, statement: str, *names: str) -> None:
    """Run `statement` with `names` quoted as identifiers into its {} placeholders."""
    import psycopg
    from psycopg import sql

    query = sql.SQL(statement).format(*(sql.Identifier(name) for name in names))
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(query)


def create_database(server_url: str, name: str, template: str | None = None) -> str:
    """Create database `name` (a copy of `template` when given) on the server; returns its URL."""
    if template:
        _admin(server_url, "CREATE DATABASE {} TEMPLATE {}", name, template)
    else:
        _admin(server_url, "CREATE DATABASE {}", name)
    return database_url(server_url, name)


def drop_database(server_url: str, name: str) -> None:
    _admin(server_url, "DROP DATABASE IF EXISTS {} WITH (FORCE)", name)


def unique_name(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


@contextmanager
def private_queue(redis_url: str) -> Iterator[str]:
    """A queue name nobody else uses; its Redis keys are deleted afterwards."""
    # Only [A-Za-z0-9_]: huey drops other characters from the names of its keys, and then the
    # pattern `flush_queue` deletes by would miss them (a hyphen here left every run's keys behind).
    name = unique_name("postroom_bench")
    try:
        yield name
    finally:
        flush_queue(redis_url, name)


def flush_queue(redis_url: str, name: str) -> None:
    """Delete every Redis key of queue `name` (tasks, schedule, results, locks)."""
    from redis import Redis

    client = Redis.from_url(redis_url)
    for key in client.scan_iter(match=f"*{name}*"):
        client.delete(key)
    client.close()


def setup_django(env: dict[str, str]) -> None:
    """Set the environment (DATABASE_URL, POSTROOM_DATA_DIR, REDIS_URL...) and Django up in this process."""
    os.environ.update(env)
    os.environ["DJANGO_SETTINGS_MODULE"] = "postroom.settings"
    import django

    django.setup()


def migrate() -> None:
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


def use_database(name: str) -> None:
    """Point this process's Django connection at another database on the same server."""
    from django.db import connection

    connection.close()
    connection.settings_dict["NAME"] = name


def release_database() -> None:
    """Close this process's connection, so the database can be copied or dropped."""
    from django.db import connection

    connection.close()


@dataclass
class Workers:
    """`count` `postroom worker` processes with `env`, logging to files under `log_dir`."""

    count: int
    env: dict[str, str]
    log_dir: Path
    threads: int = 1
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self) -> None:
        script = Path(sys.executable).parent / "postroom"
        for index in range(self.count):
            log = self.log_dir / f"worker-{self.count}-{index}.log"
            self.processes.append(
                subprocess.Popen(  # noqa: S603 - our own console script
                    [str(script), "worker", "--workers", str(self.threads)],
                    env={**os.environ, **self.env},
                    stdout=log.open("wb"),
                    stderr=subprocess.STDOUT,
                )
            )

    @property
    def pids(self) -> list[int]:
        return [process.pid for process in self.processes]

    def wait_started(self, timeout: float = 60) -> float:
        """Seconds until every worker printed its start line; raises if one died or it took too long."""
        started = time.perf_counter()
        deadline = started + timeout
        pending = set(range(self.count))
        while pending:
            for index in list(pending):
                if self.processes[index].poll() is not None:
                    raise SystemExit(f"worker {index} exited: {self.log(index)[-2000:]}")
                if STARTED_LINE in self.log(index):
                    pending.discard(index)
            if time.perf_counter() > deadline:
                raise SystemExit(f"workers {sorted(pending)} did not start within {timeout:.0f} s")
            time.sleep(0.05)
        return time.perf_counter() - started

    def log(self, index: int) -> str:
        return (self.log_dir / f"worker-{self.count}-{index}.log").read_text(errors="replace")

    def peak_rss_mb(self) -> list[float]:
        return [_procs.peak_rss_mb(pid) for pid in self.pids]

    def stop(self) -> None:
        """SIGTERM (graceful), SIGKILL after 40 s."""
        for process in self.processes:
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=40)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@dataclass
class Stack:
    """A running benchmark stack: our Dovecot (and its certificates), the environment every process
    gets (DATABASE_URL of the throwaway `database`, the private queue, the data directory), and where
    worker logs go."""

    dovecot: Dovecot
    certs: TestCertificates
    env: dict[str, str]
    database: str
    logs: Path


@contextmanager
def production_stack(
    work: Path, postgres: str, redis: str, prefix: str, idle: bool, logs: Path | None = None
) -> Iterator[Stack]:
    """Dovecot, a throwaway PostgreSQL database (migrated, Django set up on it in this process) and a
    private Redis queue, all removed afterwards; `idle` sets POSTROOM_IDLE for the workers."""
    from tests.servers.certs import make_certificates
    from tests.servers.fixtures import running_dovecot

    (work / "certs").mkdir()
    certs = make_certificates(work / "certs")
    logs = logs or work / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    database = unique_name(prefix)
    with running_dovecot(certs) as dovecot, private_queue(redis) as queue:
        env = {
            "POSTROOM_DATA_DIR": str(work / "data"),
            "DATABASE_URL": create_database(postgres, database),
            "REDIS_URL": redis,
            "POSTROOM_QUEUE_NAME": queue,
            "POSTROOM_IDLE": "true" if idle else "false",
            "POSTROOM_EXTRA_CA_FILE": str(certs.ca_path),  # our SMTP server's certificate
        }
        try:
            setup_django(env)
            migrate()
            yield Stack(dovecot, certs, env, database, logs)
        finally:
            release_database()
            drop_database(postgres, database)
