"""Two writers storing related messages at the same moment (PostgreSQL: real concurrent transactions).

SQLite serialises writers, so these run on the PostgreSQL pass only.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest
from django.db import connection, connections

from postroom.messages.models import Message, Thread
from postroom.messages.store import StoredMessage, store_messages
from postroom.organizations.models import Organization
from tests.factories import make_org
from tests.mailbuilder import build, reply_to

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]
ROUNDS = 15


@pytest.fixture(autouse=True)
def _postgresql_only() -> Iterator[None]:
    if connection.vendor != "postgresql":
        pytest.skip("needs concurrent writers: runs on the PostgreSQL pass")
    yield


def run_together(org: Organization, *batches: list[bytes]) -> list[list[StoredMessage]]:
    """Store each batch from its own thread (own connection), all released by one barrier; re-raise
    any error in the test's thread."""
    barrier = threading.Barrier(len(batches))
    results: list[list[StoredMessage] | None] = [None] * len(batches)
    errors: list[BaseException] = []

    def worker(index: int, batch: list[bytes]) -> None:
        try:
            barrier.wait(timeout=10)
            results[index] = store_messages(org, batch)
        except BaseException as exc:  # noqa: BLE001 - handed to the test thread below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker, args=(i, batch)) for i, batch in enumerate(batches)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    if errors:
        raise errors[0]
    return [r for r in results if r is not None]


def test_two_writers_storing_replies_to_one_unseen_parent_end_in_one_thread() -> None:
    org = make_org()
    for _ in range(ROUNDS):
        parent = build()
        first, second = reply_to(parent), reply_to(parent)

        a, b = run_together(org, [first], [second])

        assert a[0].thread_id == b[0].thread_id
        assert Thread.objects.get(pk=a[0].thread_id).message_count == 2


def test_two_writers_storing_the_same_message_make_one_row() -> None:
    org = make_org()
    for _ in range(ROUNDS):
        raw = build()

        a, b = run_together(org, [raw], [raw])

        assert a[0].message_id == b[0].message_id
        assert sorted([a[0].created, b[0].created]) == [False, True]
    assert Message.objects.filter(organization=org).count() == ROUNDS


def test_writers_merging_threads_while_others_join_them_lose_nothing() -> None:
    org: Organization = make_org()
    for _ in range(ROUNDS):
        left, right = build(), build()
        store_messages(org, [left, right])
        bridge = build(references=[_id(left), _id(right)])
        late_left, late_right = reply_to(left), reply_to(right)

        run_together(org, [bridge], [late_left], [late_right])

        threads = set(
            Message.objects.filter(
                organization=org, message_id__in=[_id(left).strip("<>").lower()]
            ).values_list("thread_id", flat=True)
        )
        (thread_id,) = threads
        assert Thread.objects.get(pk=thread_id).message_count == 5
        assert Message.objects.filter(thread_id=thread_id).count() == 5
    assert Message.objects.filter(organization=org).count() == 5 * ROUNDS


def _id(raw: bytes) -> str:
    for line in raw.split(b"\r\n"):
        if line.lower().startswith(b"message-id:"):
            return line.split(b":", 1)[1].strip().decode()
    raise AssertionError("no Message-ID")
