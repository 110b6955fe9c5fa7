"""Fetching and parsing mail ahead of storing it, for large backlogs.

Parsing is pure CPU work (no database, no Django), so a helper process parses while this process
writes; threads would not help because of the GIL. Fetching runs in a thread: it mostly waits on the
socket, and the database driver releases the GIL while SQLite or PostgreSQL work, so batch k+1 is fetched
and parsed while batch k is stored. `postroom.messages.store.store_parsed` takes the results.

The helpers are forked by multiprocessing's fork server, a process that has imported only this module
(see `start_parsing_server`): a helper then starts in ~0.02 s, where a freshly spawned interpreter takes
0.1-0.3 s. Keep this module's imports to what parsing needs (no Django, no IMAP client): the fork server
imports them, and the fetching thread parses the batches itself until its helper answers.
"""

from __future__ import annotations

import functools
import logging
import multiprocessing
import os
import queue
import select
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from multiprocessing import forkserver
from types import TracebackType
from typing import TYPE_CHECKING, TypeAlias

from postroom.messages.parse import ParsedMessage, parse

if TYPE_CHECKING:
    from postroom.sync.imap import FetchedMessage

    Fetch: TypeAlias = Callable[[Sequence[int]], list[FetchedMessage]]
    Batch: TypeAlias = tuple[Sequence[int], list[FetchedMessage], list[ParsedMessage]]
    _Pending: TypeAlias = tuple[Sequence[int], list[FetchedMessage], Future[list[ParsedMessage]]]

logger = logging.getLogger(__name__)

_PUT_WAIT = 0.2  # seconds between looks at the stop flag while the consumer is busy


def parse_all(raws: Sequence[bytes]) -> list[ParsedMessage]:
    """`parse` of each message (it never raises for bad mail: problems go into parse_error)."""
    return [parse(raw) for raw in raws]


def exit_with_parent(parent_pid: int) -> None:
    """In the parsing process: exit once the process whose pool it serves is gone. A worker killed with
    SIGKILL cannot shut its pool down, and the parsing process would wait for work forever, keeping the
    fork server (whose liveness pipe it holds) and multiprocessing's resource tracker alive too: three
    idle processes leaked per kill. Not its parent process, which is the fork server. A pidfd turns
    readable when the process ends, even while it waits, a zombie, to be reaped."""
    try:
        handle = os.pidfd_open(parent_pid)
    except ProcessLookupError:
        os._exit(0)

    def watch() -> None:
        select.select([handle], [], [])
        os._exit(0)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


@functools.cache
def _context() -> multiprocessing.context.BaseContext:
    """multiprocessing's fork server, set to import this module before it forks anything, and started.
    Not a plain fork of the caller: a worker runs threads and holds open database connections, which a
    forked child must not inherit; the fork server is a fresh interpreter that has neither. Where it
    cannot start (its socket's path in a long TMPDIR is too long for AF_UNIX, say), parsing processes are
    spawned instead: 0.1-0.3 s slower to start, the same parsing."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload([__name__])
    try:
        forkserver.ensure_running()
    except OSError as exc:
        logger.warning("parsing processes will be spawned: the fork server cannot start here (%s)", exc)
        return multiprocessing.get_context("spawn")
    return context


def start_parsing_server() -> None:
    """Start the fork server now, in the background (it takes 0.1-0.3 s, mostly on another core), so
    that it is ready when a sync needs a parsing process. The commands that sync call this first thing;
    otherwise the first ParsePool starts it, and waits."""
    _context()


class ParsePool:
    """One parsing process, forked by the fork server (see `_context`). Each running pipeline has its own,
    so a worker has at most POSTROOM_SYNC_CONCURRENCY of them (see `postroom.sync.slots`)."""

    def __init__(self) -> None:
        self._executor = ProcessPoolExecutor(
            max_workers=1,
            mp_context=_context(),
            initializer=exit_with_parent,
            initargs=(os.getpid(),),
        )
        # The executor starts its process at the first submit: start it now, so that its start-up
        # overlaps the batches the pipeline parses itself until this answers (see `ready`).
        self._started = self._executor.submit(parse_all, [])

    def ready(self) -> bool:
        """Whether the process has started and answered (~0.02 s after the pool was made, or as long as
        the fork server still needs to start)."""
        return self._started.done()

    def submit(self, raws: Sequence[bytes]) -> Future[list[ParsedMessage]]:
        return self._executor.submit(parse_all, list(raws))

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


class Pipeline:
    """Iterate over (uids, fetched, parsed) for each batch of `batches`, in order, with the next batch
    fetched (in a thread, by `fetch`) and parsed (in a ParsePool) while the caller stores this one.

    At most one batch waits ahead of the caller, so memory stays bounded. An error while fetching is
    raised to the caller after the batches before it; leaving the `with` block early stops the fetching
    thread (after its current FETCH) and the parsing process. `fetch` must not be used by anyone else
    until the block is left."""

    def __init__(self, fetch: Fetch, batches: Sequence[Sequence[int]]) -> None:
        self._fetch = fetch
        self._batches = batches
        self._ready: queue.Queue[_Pending | BaseException | None] = queue.Queue(maxsize=1)  # None: the end
        self._stop = threading.Event()
        self._pool = ParsePool()
        self._thread = threading.Thread(target=self._produce, name="postroom-fetch", daemon=True)

    def __enter__(self) -> Pipeline:
        self._thread.start()
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()
        self._pool.close()

    def __iter__(self) -> Iterator[Batch]:
        while True:
            item = self._ready.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            uids, fetched, parsing = item
            yield uids, fetched, parsing.result()

    def _produce(self) -> None:
        try:
            for uids in self._batches:
                if self._stop.is_set():
                    return
                fetched = self._fetch(uids)
                raws = [m.raw for m in fetched]
                # Until the parsing process answers, batches are parsed here: the caller had nothing to
                # store yet, or would wait for the process (or the fork server) to start.
                parsing = self._pool.submit(raws) if self._pool.ready() else _done(parse_all(raws))
                self._put((uids, fetched, parsing))
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            self._put(exc)
        else:
            self._put(None)

    def _put(self, item: _Pending | BaseException | None) -> None:
        while not self._stop.is_set():
            try:
                self._ready.put(item, timeout=_PUT_WAIT)
                return
            except queue.Full:
                continue


def _done(result: list[ParsedMessage]) -> Future[list[ParsedMessage]]:
    """An already resolved future, so a batch parsed in the fetching thread queues like the others."""
    future: Future[list[ParsedMessage]] = Future()
    future.set_result(result)
    return future
