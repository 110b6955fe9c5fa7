"""The fetch-ahead pipeline of postroom.sync.parsing on its own: every batch in order, parsed exactly as
`parse` parses it (in the fetching thread until the parsing process has started, then in that process),
fetch errors after the batches before them, and leaving early. The sync through a real
IMAP server, with a connection cut mid-pipeline, is in test_sync_faults.py.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from concurrent.futures import Future
from multiprocessing import forkserver

import pytest

from postroom.messages.parse import ParsedMessage, parse
from postroom.sync import parsing
from postroom.sync.imap import FetchedMessage
from postroom.sync.parsing import Pipeline
from tests.mailbuilder import build

RAWS = {uid: build(subject=f"Batch mail {uid}", body=f"Body {uid}\n") for uid in range(1, 9)}
BATCHES = [[1, 2], [3, 4, 5], [6], [7, 8]]


class FetchFailed(Exception):
    pass


def fetch(uids: Sequence[int]) -> list[FetchedMessage]:
    """What ImapConnection.fetch_messages returns, from RAWS; uid 6 is missing, as if expunged."""
    if 99 in uids:
        raise FetchFailed("connection lost")
    return [FetchedMessage(uid, (), None, len(RAWS[uid]), RAWS[uid], None) for uid in uids if uid != 6]


def test_every_batch_comes_in_order_parsed_as_parse_does() -> None:
    with Pipeline(fetch, BATCHES) as pipeline:
        batches = list(pipeline)

    assert [list(uids) for uids, _, _ in batches] == BATCHES
    for uids, fetched, parsed in batches:
        assert [m.uid for m in fetched] == [uid for uid in uids if uid != 6]
        assert parsed == [parse(m.raw) for m in fetched]
    assert [p.subject for _, _, parsed in batches for p in parsed] == [
        f"Batch mail {uid}" for uid in (1, 2, 3, 4, 5, 7, 8)
    ]


@pytest.mark.parametrize("started", [False, True])
def test_batches_are_parsed_in_the_fetching_thread_only_until_the_parsing_process_answers(
    started: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Its start takes 0.1-0.3 s, which the first batches would otherwise wait for.
    in_thread: list[int] = []

    def done(result: list[ParsedMessage]) -> Future[list[ParsedMessage]]:
        in_thread.append(len(result))
        future: Future[list[ParsedMessage]] = Future()
        future.set_result(result)
        return future

    monkeypatch.setattr(parsing, "_done", done)
    if not started:  # as on a machine too busy to start it during the whole sync
        monkeypatch.setattr(parsing.ParsePool, "ready", lambda pool: False)
    pipeline = Pipeline(fetch, BATCHES)
    deadline = time.monotonic() + 30
    while started and not pipeline._pool.ready() and time.monotonic() < deadline:
        time.sleep(0.01)
    with pipeline:
        batches = list(pipeline)

    assert in_thread == ([] if started else [2, 3, 0, 2])
    for _uids, fetched, parsed in batches:
        assert parsed == [parse(m.raw) for m in fetched]


def test_a_fetch_error_reaches_the_caller_after_the_batches_before_it() -> None:
    seen: list[Sequence[int]] = []
    with pytest.raises(FetchFailed), Pipeline(fetch, [[1, 2], [3], [99], [4]]) as pipeline:
        for uids, _fetched, _parsed in pipeline:
            seen.append(uids)

    assert seen == [[1, 2], [3]]


def test_leaving_early_stops_the_fetching_and_the_parsing_process() -> None:
    with Pipeline(fetch, BATCHES) as pipeline:
        uids, _fetched, parsed = next(iter(pipeline))

    assert list(uids) == [1, 2] and parsed[0].subject == "Batch mail 1"
    assert not pipeline._thread.is_alive()


def test_where_the_fork_server_cannot_start_parsing_processes_are_spawned(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """A long TMPDIR makes the fork server's socket path too long for AF_UNIX: the sync must still parse."""

    def too_long() -> None:
        raise OSError("AF_UNIX path too long")

    monkeypatch.setattr(forkserver, "ensure_running", too_long)
    parsing._context.cache_clear()
    try:
        parsing.start_parsing_server()
        assert parsing._context().get_start_method() == "spawn"
        pool = parsing.ParsePool()
        try:
            parsed = pool.submit([RAWS[1], RAWS[2]]).result(timeout=60)
        finally:
            pool.close()
    finally:
        parsing._context.cache_clear()

    assert [p.subject for p in parsed] == [parse(RAWS[1]).subject, parse(RAWS[2]).subject]
    assert "the fork server cannot start here (AF_UNIX path too long)" in caplog.text
