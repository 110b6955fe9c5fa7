"""Benchmark: processing stored mail (conversion to cases and auto-responses), end to end.

    POSTROOM_DATA_DIR=$(mktemp -d) .venv/bin/python -m bench.processing [--jobs 1000] [--replies 0.3]
        [--no-rule] [--convert lead]
    DATABASE_URL=postgres://... POSTROOM_DATA_DIR=$(mktemp -d) .venv/bin/python -m bench.processing

Migrates the configured database (SQLite under POSTROOM_DATA_DIR by default, DATABASE_URL for
PostgreSQL), then sets up a Convert To Case mailbox (Convert To Lead with --convert lead) with one
auto-response rule answering every message (none with --no-rule), and stores N messages into its INBOX
the way a sync batch does (messages, placements and jobs in one transaction): a share are replies to
earlier ones (they join the earlier message's case), the others start a conversation from their own
sender (a new case and a queued reply each). It then times the
`process_mailbox_jobs` task run in this process, end to end, until every job is done, and counts the
SQL statements it issued (a second, identical set of messages with the statements captured, so the
timed run pays no capturing). Prints jobs/s, wall and CPU milliseconds per job (CPU of this process
only: with PostgreSQL the server's share is not in it), and statements per job.
"""

from __future__ import annotations

import argparse
import os
import random
import time
from collections.abc import Sequence

import django

from bench import _stack


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--jobs", type=int, default=1000, help="messages stored, one job each")
    parser.add_argument("--replies", type=float, default=0.3, help="share of messages that are replies")
    parser.add_argument(
        "--rule",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="one auto-response rule answering every message (default on; --no-rule: conversion only)",
    )
    parser.add_argument(
        "--convert",
        choices=["case", "lead"],
        default="case",
        help="what new conversations become (default case)",
    )
    parser.add_argument("--profile", metavar="FILE", help="write a cProfile of the timed run to FILE")
    args = parser.parse_args(argv)

    with _stack.data_dir("postroom-bench-processing-"):
        run(args)


def run(args: argparse.Namespace) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postroom.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    convert = f"Convert To {args.convert.title()}"
    print(f"{args.jobs} jobs, {args.replies:.0%} replies, {convert}, database {connection.vendor}")
    mailbox_id = setup("timed", args.jobs, args.replies, args.rule, args.convert)
    cpu = time.process_time()
    seconds, ran = profiled(args.profile, mailbox_id)
    cpu = time.process_time() - cpu
    print(
        f"processed {ran} jobs in {seconds:.2f} s: {ran / seconds:,.0f} jobs/s,"
        f" {1000 * seconds / ran:.2f} ms/job (CPU of this process: {1000 * cpu / ran:.2f} ms/job)"
    )
    counted_jobs = min(args.jobs, 200)
    statements, ran = counted(setup("counted", counted_jobs, args.replies, args.rule, args.convert))
    print(f"SQL statements: {statements / ran:.1f} per job ({statements} for {ran} jobs)")
    check(mailbox_id, args.jobs, args.rule)


def setup(label: str, count: int, reply_share: float, rule: bool, convert: str) -> int:
    """A Convert To Case or Lead mailbox (`convert`; with one rule answering everything when `rule`), and
    `count` stored messages whose jobs are pending. Returns the mailbox's id."""
    from tests.autoresponse_helpers import make_rule
    from tests.factories import make_org, make_user
    from tests.mailbuilder import build, reply_to
    from tests.processing_helpers import arrive, case_mailbox, lead_mailbox

    org = make_org(f"bench-{label}")
    owner = make_user(f"owner@{label}.example", org)
    mailbox = (case_mailbox if convert == "case" else lead_mailbox)(org, owner)
    if rule:
        make_rule(mailbox)
    rng = random.Random(7)  # noqa: S311 - reproducible test data, not secrets
    raws: list[bytes] = []
    for n in range(count):
        if raws and rng.random() < reply_share:
            raws.append(reply_to(rng.choice(raws), sender=f"Replier {n} <replier{n}@example.net>"))
        else:
            raws.append(build(subject=f"Order {n}", sender=f"Customer {n} <customer{n}@example.org>"))
    for start in range(0, count, 500):  # sync batches
        arrive(mailbox, raws[start : start + 500])
    return mailbox.pk


def timed(mailbox_id: int) -> tuple[float, int]:
    """Seconds to run the mailbox's processing task until no job is left, and how many jobs it ran."""
    from postroom.processing.tasks import process_mailbox_jobs

    started = time.perf_counter()
    ran = 0
    while batch := process_mailbox_jobs.call_local(mailbox_id):
        ran += batch
    return time.perf_counter() - started, ran


def profiled(path: str | None, mailbox_id: int) -> tuple[float, int]:
    """`timed`, under cProfile when `path` is given (stats written there, top 25 printed)."""
    if not path:
        return timed(mailbox_id)
    import cProfile
    import pstats

    profiler = cProfile.Profile()
    result = profiler.runcall(timed, mailbox_id)
    profiler.dump_stats(path)
    pstats.Stats(path).sort_stats("cumulative").print_stats(25)
    return result


def counted(mailbox_id: int) -> tuple[int, int]:
    """SQL statements the processing task issued for the mailbox's jobs, and how many jobs it ran."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as queries:
        _, ran = timed(mailbox_id)
    return len(queries.captured_queries), ran


def check(mailbox_id: int, count: int, rule: bool) -> None:
    """Fail loudly if the run did not do the work: every job done, a record per conversation, a reply
    each."""
    from postroom.autoresponse.models import AutoReply
    from postroom.crm.models import Case, Lead
    from postroom.processing.models import InboundJob, JobStatus

    jobs = InboundJob.objects.filter(mailbox_id=mailbox_id)
    done = jobs.filter(status=JobStatus.DONE).count()
    cases = (
        Case.objects.filter(mailbox_id=mailbox_id).count()
        + Lead.objects.filter(mailbox_id=mailbox_id).count()
    )
    replies = AutoReply.objects.filter(mailbox_id=mailbox_id).count()
    print(f"check: {done}/{count} jobs done, {cases} cases or leads, {replies} replies queued")
    if done != count or cases == 0 or (rule and replies == 0):
        raise SystemExit("processing did not finish its work")


if __name__ == "__main__":
    main()
