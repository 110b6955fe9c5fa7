"""Body search vectors filled after the sync (PostgreSQL, `postroom.messages.search_index`): mail is
findable the moment it is stored, the indexer fills every vector exactly once and changes no result, a
changed body is indexed again, and a stored batch wakes the indexer once it commits. On SQLite the FTS5
triggers index at once and the indexer has nothing to do."""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection

from postroom.mailboxes.access import visible_mailboxes
from postroom.messages import search as search_module
from postroom.messages import search_index
from postroom.messages.models import Message, MessageBody
from postroom.messages.search import SEARCH_COLUMN, search, terms_of
from postroom.messages.store import reparse, store_messages
from postroom.organizations.access import org_access
from tests.compose_helpers import sending_mailbox
from tests.conftest import Cast
from tests.mailbuilder import build
from tests.processing_helpers import arrive

QUERIES = (
    "quarterly",
    "amount due",
    "zoe@customer.example",
    "jams printer",
    "nowhere",
    "hello",
    "AMOUNT Due",
    "grüße münchen",
    "MÜNCHEN",
    "déjà-vu",
    "quarterly nowhere",
)


def _results(cast: Cast) -> dict[str, list[str]]:
    mailboxes = visible_mailboxes(org_access(cast.member, "acme"))
    return {q: [m.subject for m in search(cast.acme, mailboxes, q).messages] for q in QUERIES}


def _vectors_missing(message_ids: list[int]) -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT count(*) FROM mail_messagebody WHERE message_id = ANY(%s) AND {SEARCH_COLUMN} IS NULL",  # noqa: S608
            [message_ids],
        )
        (count,) = cursor.fetchone()
    return int(count)


@pytest.fixture
def postgres_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("body vectors are filled after the sync only on PostgreSQL (SQLite: FTS5 triggers)")


@pytest.mark.parametrize(
    ("rare_matches", "rare_unindexed"),
    [(5000, 500), (0, 500), (5000, 0)],
    ids=["rare", "common", "common-among-unindexed"],
)
def test_mail_is_found_before_and_after_the_indexer_alike(
    cast: Cast, monkeypatch: Any, rare_matches: int, rare_unindexed: int
) -> None:
    monkeypatch.setattr(search_module, "RARE_MATCHES", rare_matches)
    monkeypatch.setattr(search_module, "RARE_UNINDEXED", rare_unindexed)
    mailbox = sending_mailbox(cast.acme, (cast.support_role,))
    stored = arrive(
        mailbox,
        [
            build(subject="Invoice", body="Amount due: 120 EUR.\n"),
            build(subject="Printer", sender="Zoë <zoe@customer.example>", body="It jams.\n"),
            build(subject="Hello", body="The quarterly report, from zoe@customer.example.\n"),
            build(subject="Greetings", body="GRÜSSE aus MÜNCHEN, Grüße from Zoë. Déjà-vu!\n"),
        ],
    )
    ids = [m.pk for m in stored]
    before = _results(cast)
    # Bodies not indexed yet are prefiltered on their lowered text: case and accents must not matter.
    assert before["AMOUNT Due"] == ["Invoice"] and before["grüße münchen"] == ["Greetings"]
    assert before["MÜNCHEN"] == ["Greetings"] and before["déjà-vu"] == ["Greetings"]
    assert before["quarterly nowhere"] == []
    assert before["quarterly"] == ["Hello"] and before["amount due"] == ["Invoice"]
    assert before["jams printer"] == ["Printer"] and before["nowhere"] == []
    assert before["zoe@customer.example"] == ["Hello", "Printer"]  # body, then sender (newest first)

    filled = search_index.index_pending()

    if search_index.deferred():
        assert filled == 4 and _vectors_missing(ids) == 0 and search_index.pending() == 0
    else:
        assert filled == 0 and search_index.pending() == 0
    assert _results(cast) == before
    assert search_index.index_pending() == 0  # nothing is indexed twice


def test_new_bodies_wait_for_the_indexer_which_works_in_chunks(cast: Cast, postgres_only: None) -> None:
    stored = store_messages(cast.acme, [build(subject=f"m{n}", body=f"word{n}\n") for n in range(5)])
    ids = [s.message_id for s in stored]
    assert _vectors_missing(ids) == 5

    assert search_index.index_chunk(limit=2) == 2
    assert _vectors_missing(ids) == 3
    assert search_index.index_pending(chunk=2) == 3
    assert _vectors_missing(ids) == 0


def test_a_term_many_unindexed_bodies_may_hold_is_common_and_is_not_parsed_in_every_body(
    cast: Cast, monkeypatch: Any, postgres_only: None
) -> None:
    """The probe counts bodies not indexed yet by the prefilter alone, words inside longer words too
    ("voice" in "invoices"); past RARE_UNINDEXED of them the term is searched as a common one."""
    bodies = ["three invoices\n", "an invoice\n", "a voice message\n", "nothing\n"]
    stored = store_messages(cast.acme, [build(subject=f"m{n}", body=body) for n, body in enumerate(bodies)])
    ids = sorted(s.message_id for s in stored)
    term = terms_of("voice")
    monkeypatch.setattr(search_module, "RARE_UNINDEXED", 3)
    assert search_module._rare_term_ids(term) == ids[:3]  # candidates, checked exactly by the caller
    monkeypatch.setattr(search_module, "RARE_UNINDEXED", 2)
    assert search_module._rare_term_ids(term) is None

    search_index.index_pending()
    assert search_module._rare_term_ids(term) == [ids[2]]  # indexed: whole words only


def test_a_body_whose_text_changes_is_indexed_again(cast: Cast, postgres_only: None) -> None:
    (stored,) = store_messages(cast.acme, [build(subject="Report", body="findable words\n")])
    search_index.index_pending()
    MessageBody.objects.filter(message_id=stored.message_id).update(text="damaged")
    assert _vectors_missing([stored.message_id]) == 1  # the trigger cleared the old text's vector
    search_index.index_pending()
    MessageBody.objects.filter(message_id=stored.message_id).update(html="<p>only the html</p>")
    assert _vectors_missing([stored.message_id]) == 0  # the text did not change: the vector stays

    reparse(Message.objects.get(pk=stored.message_id))
    assert _vectors_missing([stored.message_id]) == 1
    assert search_index.index_pending() == 1
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {SEARCH_COLUMN}::text FROM mail_messagebody WHERE message_id = %s",  # noqa: S608
            [stored.message_id],
        )
        assert "'findable'" in cursor.fetchone()[0]


def test_a_stored_batch_wakes_the_indexer_after_it_commits(
    cast: Cast, postgres_only: None, inline_queue: Any, django_capture_on_commit_callbacks: Any
) -> None:
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        stored = store_messages(cast.acme, [build(subject="Fresh", body="new words\n")])
    assert _vectors_missing([stored[0].message_id]) == 1  # nothing is indexed inside the batch

    for callback in callbacks:
        callback()

    assert _vectors_missing([stored[0].message_id]) == 0


def test_a_worker_registers_the_indexer_and_its_sweep_every_minute() -> None:
    from django.utils.module_loading import autodiscover_modules

    from postroom.queue import HUEY

    autodiscover_modules("tasks")  # what the worker does at start-up

    assert "postroom.messages.tasks.index_search_bodies" in HUEY._registry._registry
    assert "sweep_search_index" in {task.name for task in HUEY._registry.periodic_tasks}
