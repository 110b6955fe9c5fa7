"""Subcommands of `postroom`, one module per command group.

Adding a group: write `postroom/commands/<name>.py` with a `register(subcommands)` function that adds its
parsers (each leaf sets `handler=` through `set_defaults`), then list its command names in `COMMANDS`.
A handler takes the parsed arguments and returns the exit code; it raises `UsageError` for the caller's
mistakes (exit 2) and `CommandFailed` for everything else it can explain (exit 1), so no user error ever
ends in a traceback.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from django.db import DatabaseError

from postroom.audit.actor import acting_as
from postroom.commands.base import CommandFailed, FieldErrors, UsageError

# Each top-level command and the module (group) that registers it. Order here is the order of
# `postroom --help`.
COMMANDS: dict[str, str] = {
    "run": "run",
    "worker": "worker",
    "migrate": "migrate",
    "org": "orgs",
    "user": "users",
    "mailbox": "mailboxes",
    "sync": "sync",
    "messages": "messages",
    "leads": "crm",
    "cases": "crm",
    "token": "tokens",
    "config": "config",
    "demo": "demo",
    "audit": "audit",
    "keys": "keys",
}
GROUPS: tuple[str, ...] = tuple(dict.fromkeys(COMMANDS.values()))


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """Every group's parsers, or only those of the group that registers `command` when it is one of
    ours: a group module imports what its handlers need (the IMAP client, the sync engine, the web
    server), so `postroom sync` would otherwise pay at start-up for every other command's imports. The
    help and errors of the command are the same either way; anything else (`--help`, a typo) gets the
    whole tree."""
    parser = argparse.ArgumentParser(
        prog="postroom",
        description="Postroom: shared system mailboxes for organizations.",
    )
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    groups = (COMMANDS[command],) if command in COMMANDS else GROUPS
    for name in groups:
        module = importlib.import_module(f"postroom.commands.{name}")
        module.register(subcommands)
    return parser


def _actor_label(argv: list[str]) -> str:
    """How the audit log names a command's changes: "cli: config import", "cli: mailbox create"."""
    words = [word for word in argv[:2] if not word.startswith("-")]
    return "cli: " + " ".join(words)


def dispatch(argv: list[str]) -> int:
    """Parse `argv` (without the program name), run the chosen command, return its exit code."""
    parser = build_parser(argv[0] if argv else None)
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


__all__ = ["COMMANDS", "GROUPS", "CommandFailed", "FieldErrors", "UsageError", "build_parser", "dispatch"]
