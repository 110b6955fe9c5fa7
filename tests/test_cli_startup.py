"""Start-up of the `postroom` command line: a command loads only its own group (and what that needs), so
`postroom sync --once` of a small mailbox is not dominated by importing every other command. The forms of
the commands (MISSION M10) are checked by test_cli_commands.py; here, that the shortcut cannot drift from
them, and what the child processes import.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

from postroom.commands import COMMANDS, build_parser


def command_names(parser: argparse.ArgumentParser) -> list[str]:
    [subcommands] = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return list(subcommands.choices)


def test_commands_lists_every_command_the_groups_register_in_help_order() -> None:
    assert command_names(build_parser()) == list(COMMANDS)


def test_a_command_builds_exactly_its_own_group() -> None:
    for command, group in COMMANDS.items():
        siblings = [name for name, other in COMMANDS.items() if other == group]
        assert command_names(build_parser(command)) == siblings, command


def test_anything_else_builds_every_group() -> None:
    for first in ("--help", "nosuch", "-h", None):
        assert command_names(build_parser(first)) == list(COMMANDS)


def stderr_of(code: str, tmp_path: Path, **environ: str) -> str:
    """What a fresh interpreter running `code` writes to stderr (on SQLite without Redis, unless
    `environ` says otherwise)."""
    env = {k: v for k, v in os.environ.items() if k not in {"DATABASE_URL", "REDIS_URL"}}
    env["POSTROOM_DATA_DIR"] = str(tmp_path / "data")
    env["DATABASE_URL"] = f"sqlite:///{tmp_path / 'x.sqlite3'}"
    env.update(environ)
    done = subprocess.run(  # noqa: S603 - this interpreter, fixed code
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True, timeout=60
    )
    return done.stderr


def modules_loaded_by(code: str, tmp_path: Path, **environ: str) -> set[str]:
    """The modules (and their top-level packages) a fresh interpreter has loaded after running `code`."""
    names = stderr_of(code + "\nprint(*sys.modules, file=sys.stderr)", tmp_path, **environ).split()
    return set(names) | {name.split(".")[0] for name in names}


def test_sync_loads_no_other_command_group_nor_the_queue(tmp_path: Path) -> None:
    loaded = modules_loaded_by(
        "import contextlib, io, sys\n"
        "from postroom.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    assert main(['sync', '--help']) == 0\n",
        tmp_path,
    )
    assert "postroom.commands.sync" in loaded and "postroom.sync.engine" in loaded
    other_groups = {f"postroom.commands.{group}" for group in COMMANDS.values() if group != "sync"}
    assert not loaded & other_groups
    # Huey imports redis and psycopg whatever its storage; django_stubs_ext imports the admin.
    assert not loaded & {"huey", "redis", "psycopg", "django_stubs_ext", "waitress"}
    assert "django.contrib.admin" not in loaded
    # The sync records processing jobs (processing.intake) but never runs them: no steps, no templates.
    assert "postroom.processing.intake" in loaded
    assert not loaded & {"postroom.processing.runner", "postroom.processing.steps", "jinja2"}


QUEUE_PROCESSING = (
    "import sys, django\n"
    "import os; os.environ['DJANGO_SETTINGS_MODULE'] = 'postroom.settings'\n"
    "django.setup()\n"
    "import postroom.processing.tasks\n"
)


def test_queueing_processing_loads_the_queue_but_not_the_runner(tmp_path: Path) -> None:
    """What a sync's batch commit imports to wake the workers (processing.intake.wake)."""
    loaded = modules_loaded_by(QUEUE_PROCESSING, tmp_path)
    assert "huey" in loaded
    assert not loaded & {"postroom.processing.runner", "postroom.processing.steps", "jinja2"}
    # The queue's storage is SQLite here: huey does not get to import the Redis and PostgreSQL clients.
    assert not loaded & {"redis", "psycopg"}


def test_the_queue_file_commits_without_an_fsync_per_task_as_the_database_does(tmp_path: Path) -> None:
    """synchronous=NORMAL in WAL mode (huey's default, FULL, waited for an fsync at every task queued)."""
    code = QUEUE_PROCESSING + (
        "from postroom.queue import HUEY\n"
        "queue = HUEY.storage.conn\n"
        "print(*[queue.execute(f'PRAGMA {p}').fetchone()[0] for p in ('synchronous', 'journal_mode')],"
        " file=sys.stderr)\n"
    )
    assert stderr_of(code, tmp_path) == "1 wal\n"


def test_the_clients_hidden_from_huey_stay_importable(tmp_path: Path) -> None:
    loaded = modules_loaded_by(QUEUE_PROCESSING + "import redis, psycopg\n", tmp_path)
    assert {"huey", "redis", "psycopg"} <= loaded


def test_the_queue_on_redis_and_postgresql_loads_their_clients(tmp_path: Path) -> None:
    loaded = modules_loaded_by(
        QUEUE_PROCESSING
        + "from postroom.queue import HUEY\nassert type(HUEY).__name__ == 'PriorityRedisHuey'\n",
        tmp_path,
        REDIS_URL="redis://127.0.0.1:6379/15",
        DATABASE_URL="postgres://postgres@127.0.0.1:5432/postroom_unused",
    )
    assert {"redis", "psycopg"} <= loaded


def test_parsing_process_imports_neither_django_nor_the_imap_client(tmp_path: Path) -> None:
    """The spawned parsing process imports postroom.sync.parsing before it can parse the second batch."""
    loaded = modules_loaded_by("import sys\nimport postroom.sync.parsing\n", tmp_path)
    assert "postroom.messages.parse" in loaded
    assert not loaded & {"django", "imapclient", "imaplib", "postroom.sync.imap"}


FORK_SERVER_AT_SETUP = """\
import contextlib, io, sys
import django
from multiprocessing import forkserver
from postroom.cli import main
seen = []
real_setup = django.setup
def setup(*args, **kwargs):
    seen.append(forkserver._forkserver._forkserver_pid is not None)
    return real_setup(*args, **kwargs)
django.setup = setup
with contextlib.redirect_stdout(io.StringIO()):
    assert main([{command!r}, "--help"]) == 0
print(seen, file=sys.stderr)
"""


def test_the_syncing_commands_start_the_parsing_fork_server_before_django_is_set_up(tmp_path: Path) -> None:
    """So that it starts while Django does, and a large sync's helpers are ready by its second batch."""
    for command in ("sync", "worker", "run"):
        assert stderr_of(FORK_SERVER_AT_SETUP.format(command=command), tmp_path) == "[True]\n", command
    for command in ("migrate", "messages", "mailbox"):
        assert stderr_of(FORK_SERVER_AT_SETUP.format(command=command), tmp_path) == "[False]\n", command
