"""Subcommands of `postroom` (filled in by the CLI module)."""

from __future__ import annotations


def dispatch(argv: list[str]) -> int:
    raise NotImplementedError
