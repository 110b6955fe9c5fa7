"""Subcommands of `postroom`, one module per command group.

Adding a group: write `postroom/commands/<name>.py` with a `register(subcommands)` function that adds its
parsers (each leaf sets `handler=` through `set_defaults`), then list the module in `GROUPS`. A handler
takes the parsed arguments and returns the exit code; it raises `UsageError` for the caller's mistakes
(exit 2) and `CommandFailed` for everything else it can explain (exit 1), so no user error ever ends in
a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from django.db import DatabaseError

from postroom.audit.actor import acting_as
from postroom.commands.base import CommandFailed, FieldErrors, UsageError

# Order here is the order of `postroom --help`.
GROUPS: tuple[str, ...] = (
    "run",
    "worker",
    "migrate",
    "orgs",
    "users",
    "mailboxes",
    "sync",
    "messages",
    "crm",
    "tokens",
    "config",
    "demo",
    "audit",
    "keys",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="postroom",
        description="Postroom: shared system mailboxes for organizations.",
    )
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name in GROUPS:
        module = importlib.import_module(f"postroom.commands.{name}")
        module.register(subcommands)
    return parser


def _actor_label(argv: list[str]) -> str:
    """How the audit log names a command's changes: "cli: config import", "cli: mailbox create"."""
    words = [word for word in argv[:2] if not word.startswith("-")]
    return "cli: " + " ".join(words)


def dispatch(argv: list[str]) -> int:
    """Parse `argv` (without the program name), run the chosen command, return its exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse already printed the usage message (or --help)
        return exc.code if isinstance(exc.code, int) else 2
    try:
        with acting_as(_actor_label(argv)):
            code: int = args.handler(args)
    except FieldErrors as exc:
        print(exc, file=sys.stderr)
        return 2
    except UsageError as exc:
        print(f"postroom: {exc}", file=sys.stderr)
        return 2
    except CommandFailed as exc:
        print(f"postroom: {exc}", file=sys.stderr)
        return 1
    except DatabaseError as exc:  # e.g. the database is unreachable or not migrated yet
        print(f"postroom: database error: {exc}".rstrip(), file=sys.stderr)
        return 1
    return code


__all__ = ["GROUPS", "CommandFailed", "FieldErrors", "UsageError", "build_parser", "dispatch"]
