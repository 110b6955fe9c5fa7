"""Running `postroom` commands in-process for tests: argv in, (exit code, stdout, stderr) out."""

from __future__ import annotations

import io
import sys
from dataclasses import dataclass

import pytest

from postroom.commands import dispatch


@dataclass(frozen=True)
class Result:
    code: int
    out: str
    err: str


def run_cli(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, *argv: str, stdin: str = ""
) -> Result:
    """Run `postroom ARGV...` with `stdin` as its standard input."""
    capsys.readouterr()  # drop whatever earlier steps printed
    monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
    code = dispatch(list(argv))
    captured = capsys.readouterr()
    return Result(code, captured.out, captured.err)
