"""Threading by Message-ID in any arrival order (the JWZ idea, reduced to what a CRM needs).

Every Message-ID an organization has seen — each message's own and every id in its In-Reply-To and
References — is a `ThreadKey` pointing at a thread. A new message gathers its ids and looks them up:
none known -> a new thread; one thread -> it joins; several -> those threads are merged into the oldest.
Then its unknown ids become keys of that thread, so the parent that arrives later finds its replies.

Concurrency: callers run `assign_threads` inside a transaction. Existing threads are locked (in id order,
so two writers cannot deadlock on them); a thread merged away by another writer meanwhile raises
`Retry`, and two writers inserting the same new key collide on the unique constraint (IntegrityError).
Either way the caller rolls back and runs the lookup again, which then sees the other writer's work.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from postroom.messages import bulk
from postroom.messages.models import Message, Thread, ThreadKey
from postroom.messages.parse import ParsedMessage
from postroom.organizations.models import Organization


class Retry(Exception):
    """A thread we were about to use was merged away by a concurrent writer: look up again."""


@dataclass
class _Thread:
    """The Thread columns threading reads and writes."""

    pk: int  # 0 until the row is inserted
    created_at: datetime
    subject: str
    message_count: int = 0
    last_message_at: datetime | None = None


@dataclass
class _Conversation:
    """Messages of this batch that belong together, and the threads they already touch."""

    indexes: list[int] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    thread_ids: set[int] = field(default_factory=set)


def assign_threads(organization: Organization, messages: Sequence[ParsedMessage]) -> list[int]:
    """Thread ids for `messages` (in order), creating, joining and merging threads and inserting the
    new ThreadKeys and counters. Must run inside a transaction; may raise Retry or IntegrityError."""
    known = _known_keys(organization, {k for m in messages for k in m.thread_keys})
    conversations = _group(messages, known)
    locked = _lock_threads(organization, {t for c in conversations for t in c.thread_ids})
    now = timezone.now()
    chosen: list[tuple[_Conversation, _Thread]] = []
    merged_away: set[int] = set()
    for conversation in conversations:
        batch = [messages[i] for i in conversation.indexes]
        if conversation.thread_ids:
            thread = _merge([locked[t] for t in conversation.thread_ids], merged_away)
        else:
            thread = _Thread(pk=0, created_at=now, subject=_subject(batch))
        _add_to_thread(thread, batch, now)
        chosen.append((conversation, thread))
    _insert_new([thread for _c, thread in chosen if not thread.pk], organization)
    bulk.update(
        Thread,
        ["subject", "message_count", "last_message_at"],
        [
            (t.pk, t.subject, t.message_count, t.last_message_at)
            for t in locked.values()
            if t.pk not in merged_away
        ],
    )
    result = [0] * len(messages)
    keys: list[tuple[str, int]] = []
    for conversation, thread in chosen:
        for index in conversation.indexes:
            result[index] = thread.pk
        keys += [(k, thread.pk) for k in sorted(conversation.keys - known.keys())]
    bulk.insert(ThreadKey, ["message_id", "thread_id"], keys, same={"organization_id": organization.pk})
    return result


def _known_keys(organization: Organization, keys: set[str]) -> dict[str, int]:
    columns = ["message_id", "thread_id"]
    org = {"organization_id": organization.pk}
    return dict(bulk.select_in(ThreadKey, columns, org, "message_id", sorted(keys)))


def _insert_new(threads: list[_Thread], organization: Organization) -> None:
    columns = ["created_at", "subject", "message_count", "last_message_at"]
    rows = [(t.created_at, t.subject, t.message_count, t.last_message_at) for t in threads]
    ids = bulk.insert_returning_ids(Thread, columns, rows, same={"organization_id": organization.pk})
    for thread, pk in zip(threads, ids, strict=True):
        thread.pk = pk


def _group(messages: Sequence[ParsedMessage], known: dict[str, int]) -> list[_Conversation]:
    """Union-find over the batch: messages sharing any id, or any known thread, are one conversation."""
    parent: dict[str, str] = {}

    def find(node: str) -> str:
        while parent.setdefault(node, node) != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    def union(a: str, b: str) -> None:
        parent[find(a)] = find(b)

    for index, message in enumerate(messages):
        node = f"#message {index}"  # '#' and the space cannot occur in a normalised Message-ID
        for key in message.thread_keys:
            union(node, key)
            if key in known:
                union(key, f"#thread {known[key]}")
        find(node)
    conversations: dict[str, _Conversation] = {}
    for index, message in enumerate(messages):
        conversation = conversations.setdefault(find(f"#message {index}"), _Conversation())
        conversation.indexes.append(index)
        conversation.keys.update(message.thread_keys)
        conversation.thread_ids.update(known[k] for k in message.thread_keys if k in known)
    return list(conversations.values())


def _lock_threads(organization: Organization, thread_ids: set[int]) -> dict[int, _Thread]:
    threads = Thread.objects.select_for_update().filter(organization=organization, id__in=thread_ids)
    columns = ["id", "created_at", "subject", "message_count", "last_message_at"]
    locked = {row[0]: _Thread(*row) for row in threads.order_by("id").values_list(*columns)}
    if len(locked) != len(thread_ids):
        raise Retry()
    return locked


def _merge(threads: list[_Thread], merged_away: set[int]) -> _Thread:
    """Merge `threads` into the oldest: its messages and keys move, counters add up, the rest go."""
    threads.sort(key=lambda t: (t.created_at, t.pk))
    survivor, others = threads[0], threads[1:]
    if not others:
        return survivor
    other_ids = [t.pk for t in others]
    Message.objects.filter(thread_id__in=other_ids).update(thread_id=survivor.pk)
    ThreadKey.objects.filter(thread_id__in=other_ids).update(thread_id=survivor.pk)
    for other in others:
        survivor.message_count += other.message_count
        survivor.last_message_at = _latest(survivor.last_message_at, other.last_message_at)
        survivor.subject = survivor.subject or other.subject
    Thread.objects.filter(id__in=other_ids).delete()
    merged_away.update(other_ids)
    return survivor


def _add_to_thread(thread: _Thread, batch: list[ParsedMessage], now: datetime) -> None:
    thread.message_count += len(batch)
    for message in batch:
        # A sender's clock in the future must not pin the thread to the top of every list.
        thread.last_message_at = _latest(thread.last_message_at, min(message.date or now, now))
    roots = [m for m in batch if m.is_thread_root]
    if roots:  # the conversation's first message arrived: its subject names the thread
        thread.subject = roots[0].subject


def _subject(batch: list[ParsedMessage]) -> str:
    roots = [m for m in batch if m.is_thread_root]
    return (roots or batch)[0].subject


def _latest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None or b is None:
        return a or b
    return max(a, b)
