"""postroom.messages.bulk: rows stored as the ORM would store them, conflicts raised or skipped (on
PostgreSQL `insert` sends a COPY, which must escape and convert exactly as an INSERT does)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, transaction

from postroom.messages import bulk
from postroom.messages.models import Message, Thread, ThreadKey
from tests.conftest import Cast

# What a COPY in text format has to escape: tab, newline, carriage return, backslash, a field that reads
# as its NULL marker; and characters beyond ASCII.
AWKWARD = "tab\there\nnew line\r\\ back\\slash \\N déjà 日本"
COLUMNS = [
    "thread_id",
    "message_id",
    "content_hash",
    "raw_sha256",
    "size",
    "subject",
    "to",
    "date",
    "x_autoreply",
]
KEY = ["message_id", "thread_id"]


def test_inserted_values_read_back_as_given(cast: Cast) -> None:
    thread = Thread.objects.create(organization=cast.acme)
    date = datetime(2026, 3, 1, 12, 30, 15, 123456, tzinfo=UTC)
    bulk.insert(
        Message,
        COLUMNS,
        [
            (thread.pk, "a@x", "h1", "r1", 10, AWKWARD, [["Ann", "ann@example.org"]], date, True),
            (thread.pk, "\\N", "h2", "r2", 0, "", [], None, False),
        ],
        same={"organization_id": cast.acme.pk, "created_at": date},
    )
    first, second = Message.objects.order_by("pk")
    assert (first.subject, first.to, first.date, first.x_autoreply) == (
        AWKWARD,
        [["Ann", "ann@example.org"]],
        date,
        True,
    )
    assert (second.message_id, second.to, second.date, second.x_autoreply) == ("\\N", [], None, False)
    assert (second.cc, second.references, second.parse_error) == ([], [], "")  # field defaults
    assert first.created_at == second.created_at == date


def test_a_conflicting_row_raises_integrity_error_and_the_transaction_goes_on(cast: Cast) -> None:
    thread = Thread.objects.create(organization=cast.acme)
    same = {"organization_id": cast.acme.pk}
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk.insert(ThreadKey, KEY, [("a@x", thread.pk), ("a@x", thread.pk)], same=same)
    bulk.insert(ThreadKey, KEY, [("b@x", thread.pk)], same=same)
    assert list(ThreadKey.objects.values_list("message_id", flat=True)) == ["b@x"]


def test_ignore_conflicts_skips_only_the_conflicting_rows(cast: Cast) -> None:
    thread = Thread.objects.create(organization=cast.acme)
    same = {"organization_id": cast.acme.pk}
    bulk.insert(ThreadKey, KEY, [("a@x", thread.pk)], same=same)
    rows = [("a@x", thread.pk), ("b@x", thread.pk), ("b@x", thread.pk)]
    bulk.insert(ThreadKey, KEY, rows, same=same, ignore_conflicts=True)
    assert sorted(ThreadKey.objects.values_list("message_id", flat=True)) == ["a@x", "b@x"]


def test_insert_counts_the_rows_it_inserted_not_those_it_skipped(cast: Cast) -> None:
    thread = Thread.objects.create(organization=cast.acme)
    same = {"organization_id": cast.acme.pk}
    assert bulk.insert(ThreadKey, KEY, [("a@x", thread.pk), ("b@x", thread.pk)], same=same) == 2
    rows = [("a@x", thread.pk), ("c@x", thread.pk), ("c@x", thread.pk)]
    assert bulk.insert(ThreadKey, KEY, rows, same=same, ignore_conflicts=True) == 1
    assert bulk.insert(ThreadKey, KEY, [], same=same) == 0
