"""`postroom migrate`: create or upgrade the database. Quiet when there is nothing to do."""

from __future__ import annotations

import argparse

from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor

from postroom.commands.base import Subcommands


def register(subcommands: Subcommands) -> None:
    parser = subcommands.add_parser("migrate", help="create or upgrade the database")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    migrate()
    return 0


def pending_migrations() -> list[str]:
    executor = MigrationExecutor(connections[DEFAULT_DB_ALIAS])
    targets = executor.loader.graph.leaf_nodes()
    return [f"{migration.app_label}.{migration.name}" for migration, _ in executor.migration_plan(targets)]


def migrate() -> None:
    """Apply pending migrations, saying how many; print nothing when the database is up to date."""
    pending = pending_migrations()
    if not pending:
        return
    print(f"Applying {len(pending)} database migration(s)...", flush=True)
    call_command("migrate", interactive=False, verbosity=0)
    print("Database is up to date.", flush=True)
