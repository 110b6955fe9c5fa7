"""Lookups remembered for one processing batch.

The runner works through up to `runner.BATCH_SIZE` jobs in one transaction. The configuration those jobs
read (the mailbox's rules, the organization's settings and mailbox addresses, the owner chosen for new
records) is the same for all of them, so a function decorated with `per_batch` runs its query once per
batch and argument tuple. Outside a batch (the web app, the CLI, tests calling a step directly) it simply
runs every time. A setting changed while a batch runs takes effect with the next batch, as if the batch
had started a moment earlier.

A step may also load, once per batch, what it would otherwise ask per job (`remember` / `recall`): the
runner calls each step's `prepare` with the batch's jobs. When a job fails, its savepoint is rolled back
and with it whatever the job wrote; the runner then calls `forget`, so the jobs after it ask the database
again instead of trusting what the batch remembered.

This module imports nothing from Postroom, so any app may decorate its lookups with it.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, ParamSpec, TypeVar, cast

P = ParamSpec("P")
R = TypeVar("R")

_memo: ContextVar[dict[Hashable, Any] | None] = ContextVar("postroom_batch_memo", default=None)
_undivided: ContextVar[bool] = ContextVar("postroom_batch_undivided", default=False)


@contextmanager
def batch() -> Iterator[None]:
    """Remember `per_batch` results until the block ends."""
    reset = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(reset)


@contextmanager
def undivided() -> Iterator[None]:
    """The runner's first try of a batch: any error rolls the whole try back, and the jobs run again one
    by one, each in a savepoint. Meanwhile a step that would isolate its writes in a savepoint of its own
    (two statements) lets the error through instead (see `is_undivided`)."""
    reset = _undivided.set(True)
    try:
        yield
    finally:
        _undivided.reset(reset)


def is_undivided() -> bool:
    """Whether an error now rolls the batch's whole try back (`undivided`)."""
    return _undivided.get()


def remember(key: Hashable, value: object) -> None:
    """Keep `value` under `key` until the batch ends (nothing is kept outside a batch)."""
    memo = _memo.get()
    if memo is not None:
        memo[key] = value


def recall(key: Hashable) -> Any:
    """What was remembered under `key` in this batch, or None."""
    memo = _memo.get()
    return None if memo is None else memo.get(key)


def forget() -> None:
    """Drop everything remembered in this batch (after a job's writes were rolled back)."""
    memo = _memo.get()
    if memo is not None:
        memo.clear()


def per_batch(function: Callable[P, R]) -> Callable[P, R]:
    """Remember `function`'s result per positional and keyword arguments (which must be hashable; model
    instances hash by primary key) while a `batch()` is open."""

    @functools.wraps(function)
    def remembered(*args: P.args, **kwargs: P.kwargs) -> R:
        memo = _memo.get()
        if memo is None:
            return function(*args, **kwargs)
        key = (function, args, tuple(sorted(kwargs.items())))
        if key not in memo:
            memo[key] = function(*args, **kwargs)
        return cast(R, memo[key])

    return remembered
