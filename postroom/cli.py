"""The `postroom` command line. Operators script against these forms (MISSION M10): keep names, options
and output fields stable. Errors go to stderr with a non-zero exit code.
"""

from __future__ import annotations

import gc
import os
import sys

# The commands that sync mail. They start the parsing processes' fork server before Django's set-up, which
# it then overlaps: a large backlog's second batch is parsed by a helper, not waited for (see
# `postroom.sync.parsing`). The cost for a command that turns out to have nothing to parse: ~0.05 s of CPU
# on another core (`postroom sync --help`: 0.28 -> 0.33 CPU-s, the same wall time).
SYNCING_COMMANDS = ("run", "worker", "sync")


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] and args[0] in SYNCING_COMMANDS:
        from postroom.sync.parsing import start_parsing_server

        start_parsing_server()
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postroom.settings")
    import django

    django.setup()
    from postroom.commands import dispatch

    return dispatch(args)


def entry() -> int:
    """The `postroom` console script: `main`, then an exit without the garbage collector's passes.

    While the interpreter shuts down, it collects garbage again and again as it tears modules down, each
    pass walking every object Django and the command loaded: ~0.08-0.14 s after any command, measured, a
    twentieth of a 2,000-message `postroom sync --once`. Frozen objects are skipped by those passes. Only
    the cycle collector is affected: atexit handlers run, files are flushed and closed, connections are
    closed, as in any exit."""
    code = main()
    gc.freeze()
    return code


if __name__ == "__main__":
    sys.exit(entry())
