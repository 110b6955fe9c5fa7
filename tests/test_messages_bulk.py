"""postroom.messages.bulk: rows stored as the ORM would store them, conflicts raised or skipped (on
PostgreSQL `insert` sends a COPY, which must escape and convert exactly as an INSERT does)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from django.db import DataError, IntegrityError, connection, transaction
from django.db.models.signals import post_save, pre_save

from postroom.crm.models import Lead
from postroom.mailboxes.models import Mailbox
from postroom.messages import bulk
from postroom.messages.models import Message, Thread, ThreadKey
from postroom.outbox.models import Kind, OutgoingMessage
from tests.conftest import Cast
from tests.factories import make_mailbox

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


def test_rows_beyond_one_statement_are_all_inserted_and_counted(cast: Cast) -> None:
    # Rows go in multi-row statements of as many as the backend takes parameters for (333 of these on
    # SQLite): the count is the sum over them, and a conflict in a later one skips only its row.
    thread = Thread.objects.create(organization=cast.acme)
    same = {"organization_id": cast.acme.pk}
    bulk.insert(ThreadKey, KEY, [(f"{n}@x", thread.pk) for n in range(0, 1000, 7)], same=same)
    rows = [(f"{n}@x", thread.pk) for n in range(1000)]
    assert bulk.insert(ThreadKey, KEY, rows, same=same, ignore_conflicts=True) == 1000 - len(
        range(0, 1000, 7)
    )
    assert ThreadKey.objects.count() == 1000


def test_insert_returning_gives_the_asked_columns_of_the_rows_it_inserted_only(cast: Cast) -> None:
    thread = Thread.objects.create(organization=cast.acme)
    same = {"organization_id": cast.acme.pk}
    bulk.insert(ThreadKey, KEY, [("50@x", thread.pk)], same=same)
    rows = [(f"{n}@x", thread.pk) for n in range(400)]  # beyond one statement on SQLite

    returned = bulk.insert_returning(
        ThreadKey, KEY, rows, ["message_id", "id"], same=same, ignore_conflicts=True
    )

    stored = dict(ThreadKey.objects.values_list("message_id", "id"))
    assert sorted(returned) == sorted((key, pk) for key, pk in stored.items() if key != "50@x")
    # In the order of the rows given: insert_returning_ids pairs keys with rows by position.
    assert [key for key, _pk in returned] == [f"{n}@x" for n in range(400) if n != 50]


def test_a_value_too_long_for_its_column_is_refused_not_cut_short(cast: Cast) -> None:
    # PostgreSQL inserts conflict-skipping rows from unnest() arrays: typed varchar(n)[], the cast would
    # cut a long value to n characters where an INSERT refuses it. (SQLite keeps any length.)
    if connection.vendor != "postgresql":
        pytest.skip("SQLite does not enforce a column's max_length")
    thread = Thread.objects.create(organization=cast.acme)
    same = {"organization_id": cast.acme.pk}
    too_long = "x" * (ThreadKey._meta.get_field("message_id").max_length + 1)  # type: ignore[operator]
    with pytest.raises(DataError), transaction.atomic():
        bulk.insert(ThreadKey, KEY, [(too_long, thread.pk)], same=same, ignore_conflicts=True)
    with pytest.raises(DataError), transaction.atomic():
        bulk.insert_returning(ThreadKey, KEY, [(too_long, thread.pk)], ["id"], same=same)
    assert not ThreadKey.objects.exists()


def test_select_in_finds_the_rows_among_many_values(cast: Cast) -> None:
    thread = Thread.objects.create(organization=cast.acme)
    other = Thread.objects.create(organization=cast.globex)
    keys = [f"{n}@x" for n in range(1200)]  # beyond one IN (...) on SQLite
    bulk.insert(ThreadKey, KEY, [(k, thread.pk) for k in keys[::3]], same={"organization_id": cast.acme.pk})
    bulk.insert(ThreadKey, KEY, [(k, other.pk) for k in keys[1::3]], same={"organization_id": cast.globex.pk})

    found = bulk.select_in(ThreadKey, ["message_id"], {"organization_id": cast.acme.pk}, "message_id", keys)

    assert sorted(key for (key,) in found) == sorted(keys[::3])


def _outgoing_values(cast: Cast) -> dict[str, object]:
    mailbox = make_mailbox(cast.acme)
    return {
        "organization_id": cast.acme.pk,
        "mailbox": mailbox,
        "kind": Kind.AUTO_REPLY,
        "envelope_from": mailbox.email,
        "recipients": ["ann@example.org", AWKWARD],
        "subject": AWKWARD,
        "message_id": "m1@x",
        "raw": b"Subject: x\r\n\r\n\x00\xff",
    }


def test_create_stores_and_returns_what_the_orm_would(cast: Cast) -> None:
    values = _outgoing_values(cast)
    made = bulk.create(OutgoingMessage, **values)
    by_orm = OutgoingMessage.objects.create(**{**values, "message_id": "m2@x"})

    assert made.pk is not None and not made._state.adding and made.mailbox == values["mailbox"]
    columns = [
        f.attname for f in OutgoingMessage._meta.concrete_fields if f.attname not in ("id", "message_id")
    ]
    stored, orm = (OutgoingMessage.objects.values(*columns).get(pk=pk) for pk in (made.pk, by_orm.pk))
    assert bytes(stored.pop("raw")) == bytes(orm.pop("raw")) == values["raw"]
    for column in ("next_attempt_at", "created_at"):  # timezone.now as default, and auto_now_add
        assert abs(stored.pop(column) - orm.pop(column)) < timedelta(seconds=5)
    assert stored == orm
    assert (stored["recipients"], stored["subject"], stored["status"]) == (
        values["recipients"],
        AWKWARD,
        "queued",
    )


def test_create_goes_through_the_orm_for_a_model_whose_saving_is_listened_to(cast: Cast) -> None:
    heard: list[int] = []

    def hear(sender: type, instance: OutgoingMessage, created: bool, **_: object) -> None:
        heard.append(instance.pk)

    post_save.connect(hear, sender=OutgoingMessage, dispatch_uid="test-bulk-create")
    try:
        made = bulk.create(OutgoingMessage, **_outgoing_values(cast))
    finally:
        post_save.disconnect(sender=OutgoingMessage, dispatch_uid="test-bulk-create")
    assert heard == [made.pk]


def test_create_raises_integrity_error_on_a_conflict_and_the_transaction_goes_on(cast: Cast) -> None:
    thread = Thread.objects.create(organization=cast.acme)
    bulk.create(ThreadKey, organization_id=cast.acme.pk, message_id="a@x", thread=thread)
    with pytest.raises(IntegrityError), transaction.atomic():
        bulk.create(ThreadKey, organization_id=cast.acme.pk, message_id="a@x", thread=thread)
    bulk.create(ThreadKey, organization_id=cast.acme.pk, message_id="b@x", thread=thread)
    assert sorted(ThreadKey.objects.values_list("message_id", flat=True)) == ["a@x", "b@x"]


def test_only_receivers_declared_blind_to_creation_are_disregarded() -> None:
    """The audit log follows leads but records only people's edits (its receivers are declared with
    `ignores_creation`), so leads may be created by hand; any other receiver sends them through the ORM."""
    assert pre_save.has_listeners(Lead) and not bulk.listened(Lead)

    def other(**kwargs: Any) -> None:
        pass

    post_save.connect(other, sender=Lead, weak=False)
    try:
        assert bulk.listened(Lead)
    finally:
        post_save.disconnect(other, sender=Lead)
    assert not bulk.listened(Lead)
    assert bulk.listened(Mailbox)  # the audit log records every save of a mailbox
