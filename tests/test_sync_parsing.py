"""The fetch-ahead pipeline of postroom.sync.parsing on its own: every batch in order, parsed exactly as
`parse` parses it (the first batch in the fetching thread while the parsing process starts, the others in
that process), fetch errors after the batches before them, and leaving early. The sync through a real
IMAP server, with a connection cut mid-pipeline, is in test_sync_faults.py.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from postroom.messages.parse import parse
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
