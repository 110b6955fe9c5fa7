"""`postroom worker`: the background worker only, for scaling out (see `postroom.worker`)."""

from __future__ import annotations

import argparse

from postroom.commands.base import CommandFailed, Subcommands, UsageError
from postroom.worker import run_worker, tasks_run_inline


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser("worker", help="run a background worker only (scale-out)")
    parser.add_argument("--workers", type=int, default=2, metavar="N", help="worker threads (default 2)")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    if args.workers < 1:
        raise UsageError("--workers must be at least 1")
    if tasks_run_inline():
        raise CommandFailed("POSTROOM_QUEUE_IMMEDIATE is on: tasks run inline, so a worker has nothing to do")
    print(f"Postroom worker started ({args.workers} thread(s)); stop it with SIGTERM or Ctrl+C.", flush=True)
    run_worker(args.workers)
    print("Postroom worker stopped.", flush=True)
    return 0
