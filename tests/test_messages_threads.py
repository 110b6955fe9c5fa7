"""Threading by Message-ID in any arrival order, per organization."""

from __future__ import annotations

from postroom.messages.models import Message, Thread, ThreadKey
from postroom.messages.store import store_message, store_messages
from tests.conftest import Cast
from tests.mailbuilder import NO_ID, build, reply_to


def thread_of(message_pk: int) -> Thread:
    return Message.objects.get(pk=message_pk).thread


def test_reply_synced_before_parent_joins_its_thread(cast: Cast) -> None:
    parent = build(subject="Order 42 is late")
    reply = reply_to(parent)

    first = store_message(cast.acme, reply)
    second = store_message(cast.acme, parent)

    assert second.thread_id == first.thread_id
    thread = Thread.objects.get(pk=first.thread_id)
    assert thread.message_count == 2
    assert thread.subject == "Order 42 is late"  # the first message's subject, once it arrives


def test_grandchild_synced_before_both_ancestors_joins_one_thread(cast: Cast) -> None:
    root = build(subject="Root")
    child = reply_to(root)
    grandchild = reply_to(child)

    ids = [store_message(cast.acme, raw).thread_id for raw in (grandchild, child, root)]

    assert len(set(ids)) == 1
    assert Thread.objects.get(pk=ids[0]).message_count == 3
    assert Thread.objects.filter(organization=cast.acme).count() == 1


def test_references_alone_thread_a_reply(cast: Cast) -> None:
    parent = build()
    reply = reply_to(parent, in_reply_to=False)

    assert store_message(cast.acme, parent).thread_id == store_message(cast.acme, reply).thread_id


def test_in_reply_to_alone_threads_a_reply(cast: Cast) -> None:
    parent = build()
    reply = reply_to(parent, references=False)

    assert store_message(cast.acme, reply).thread_id == store_message(cast.acme, parent).thread_id


def test_message_referencing_two_threads_merges_them_into_the_oldest(cast: Cast) -> None:
    first = store_message(cast.acme, build(message_id="<a@x.example>", subject="First"))
    second = store_message(cast.acme, build(message_id="<b@x.example>", in_reply_to="<unseen@x.example>"))
    assert first.thread_id != second.thread_id

    joiner = store_message(
        cast.acme, build(references=["<a@x.example>", "<b@x.example>"], in_reply_to="<b@x.example>")
    )

    assert joiner.thread_id == first.thread_id
    assert not Thread.objects.filter(pk=second.thread_id).exists()
    assert thread_of(second.message_id).pk == first.thread_id
    survivor = Thread.objects.get(pk=first.thread_id)
    assert survivor.message_count == 3
    assert survivor.subject == "First"
    keys = set(ThreadKey.objects.filter(thread=survivor).values_list("message_id", flat=True))
    assert {"a@x.example", "b@x.example", "unseen@x.example"} <= keys
    assert ThreadKey.objects.filter(organization=cast.acme).exclude(thread=survivor).count() == 0


def test_messages_without_any_id_start_their_own_threads(cast: Cast) -> None:
    results = store_messages(
        cast.acme, [build(message_id=NO_ID, body="a"), build(message_id=NO_ID, body="b")]
    )

    assert results[0].thread_id != results[1].thread_id
    assert ThreadKey.objects.count() == 0


def test_reply_and_parent_in_one_batch_in_reverse_order_share_a_thread(cast: Cast) -> None:
    parent = build(subject="Batch root")
    results = store_messages(cast.acme, [reply_to(reply_to(parent)), build(), reply_to(parent), parent])

    assert results[0].thread_id == results[2].thread_id == results[3].thread_id
    assert results[1].thread_id != results[0].thread_id
    assert Thread.objects.get(pk=results[0].thread_id).message_count == 3
    assert Thread.objects.get(pk=results[0].thread_id).subject == "Batch root"


def test_one_batch_merging_two_stored_threads_and_adding_a_new_one(cast: Cast) -> None:
    a = store_message(cast.acme, build(message_id="<a@y.example>"))
    b = store_message(cast.acme, build(message_id="<b@y.example>"))
    results = store_messages(
        cast.acme,
        [
            build(in_reply_to="<a@y.example>", message_id="<c@y.example>"),
            build(message_id="<lonely@y.example>"),
            build(references=["<c@y.example>", "<b@y.example>"]),
        ],
    )

    assert results[0].thread_id == results[2].thread_id == a.thread_id
    assert thread_of(b.message_id).pk == a.thread_id
    assert results[1].thread_id not in (a.thread_id, b.thread_id)
    assert Thread.objects.get(pk=a.thread_id).message_count == 4


def test_threads_track_their_latest_message(cast: Cast) -> None:
    parent = build()
    reply = reply_to(parent)
    store_message(cast.acme, parent)
    stored = store_message(cast.acme, reply)

    thread = Thread.objects.get(pk=stored.thread_id)
    assert thread.last_message_at == Message.objects.get(pk=stored.message_id).date


def test_same_message_ids_in_two_organizations_never_share_a_thread(cast: Cast) -> None:
    parent = build()
    reply = reply_to(parent)
    acme = store_messages(cast.acme, [parent, reply])
    globex = store_message(cast.globex, reply)

    assert globex.thread_id not in {r.thread_id for r in acme}
    assert Thread.objects.get(pk=globex.thread_id).message_count == 1
    assert Thread.objects.get(pk=acme[0].thread_id).message_count == 2
