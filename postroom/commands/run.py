"""`postroom run`: the embedded default. Migrates, optionally creates the demo data, then serves the web
app with waitress in a thread while the queue consumer (worker and scheduler) runs in the main thread
(`--no-worker`: the web app only, for installs whose workers are `postroom worker` processes).
SIGTERM or SIGINT stops both, with exit code 0.
"""

from __future__ import annotations

import argparse
import threading
from typing import Any

from postroom.commands.base import CommandFailed, Subcommands, UsageError
from postroom.commands.demo import ensure_demo, print_logins
from postroom.commands.migrate import migrate
from postroom.worker import run_worker, tasks_run_inline, wait_for_stop_signal


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser("run", help="web + worker + scheduler in one process")
    parser.add_argument("--bind", default="127.0.0.1:8000", metavar="HOST:PORT")
    parser.add_argument(
        "--demo", action="store_true", help="create the demo organization and print its login"
    )
    parser.add_argument("--workers", type=int, default=2, metavar="N", help="worker threads (default 2)")
    parser.add_argument(
        "--no-worker", action="store_true", help="serve the web app only (workers run as `postroom worker`)"
    )
    parser.add_argument("--threads", type=int, default=8, metavar="N", help="web server threads (default 8)")
    parser.set_defaults(handler=handle)


def parse_bind(bind: str) -> tuple[str, int]:
    host, _, port = bind.rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise UsageError(f"--bind {bind!r}: use HOST:PORT, e.g. 127.0.0.1:8000")
    return host, int(port)


def start_web(bind: str, threads: int) -> tuple[Any, threading.Thread, str]:
    """Listen on `bind` and serve in a daemon thread; returns the server, its thread and its URL."""
    from waitress import create_server

    from postroom.wsgi import application

    host, port = parse_bind(bind)
    try:
        server = create_server(application, host=host, port=port, threads=threads, ident="postroom")
    except OSError as exc:
        raise CommandFailed(f"cannot listen on {bind}: {exc.strerror or exc}") from None
    shown_host = f"[{host}]" if ":" in host else host
    url = f"http://{shown_host}:{getattr(server, 'effective_port', port)}/"
    thread = threading.Thread(target=server.run, name="postroom-web", daemon=True)
    thread.start()
    return server, thread, url


def handle(args: argparse.Namespace) -> int:
    if args.workers < 1 or args.threads < 1:
        raise UsageError("--workers and --threads must be at least 1")
    parse_bind(args.bind)  # a bad --bind is reported before anything else happens
    migrate()
    logins = ensure_demo() if args.demo else []
    server, thread, url = start_web(args.bind, args.threads)
    print(f"Postroom is running at {url}", flush=True)
    print_logins(logins)
    print("Stop it with Ctrl+C (or SIGTERM).", flush=True)
    try:
        if tasks_run_inline() or args.no_worker:
            wait_for_stop_signal()
        else:
            run_worker(args.workers)
    finally:
        server.close()
        thread.join(timeout=5)
    print("Postroom stopped.", flush=True)
    return 0
