"""Parsing fetched mail in a helper process, so it overlaps with fetching and storing.

Parsing is pure CPU work (no database, no Django), so a spawned process parses batch k+1 while this
process writes batch k; threads would not help because of the GIL. `postroom.messages.store.store_parsed`
takes the results. The pool is only worth its start-up (~0.3 s) for large backlogs (see the engine).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor

from postroom.messages.parse import ParsedMessage, parse


def parse_all(raws: Sequence[bytes]) -> list[ParsedMessage]:
    """`parse` of each message (it never raises for bad mail: problems go into parse_error)."""
    return [parse(raw) for raw in raws]


class ParsePool:
    """One spawned parsing process (spawn, not fork: the parent may run worker threads and hold open
    database connections, which a forked child must not inherit)."""

    def __init__(self) -> None:
        self._executor = ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn"))

    def submit(self, raws: Sequence[bytes]) -> Future[list[ParsedMessage]]:
        return self._executor.submit(parse_all, list(raws))

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
