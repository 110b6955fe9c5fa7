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

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from postroom.messages.models import Message, Thread, ThreadKey
from postroom.messages.parse import ParsedMessage
from postroom.organizations.models import Organization

LOOKUP_CHUNK = 500  # ids per IN (...) query: stays under every backend's parameter limit


class Retry(Exception):
    """A thread we were about to use was merged away by a concurrent writer: look up again."""


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
    chosen: list[tuple[_Conversation, Thread]] = []
    merged_away: set[int] = set()
    for conversation in conversations:
        batch = [messages[i] for i in conversation.indexes]
        if conversation.thread_ids:
            thread = _merge([locked[t] for t in conversation.thread_ids], merged_away)
        else:
            thread = Thread(organization=organization, created_at=now, subject=_subject(batch))
        _add_to_thread(thread, batch, now)
        chosen.append((conversation, thread))
    Thread.objects.bulk_create([thread for _c, thread in chosen if thread.pk is None])
    survivors = [t for t in locked.values() if t.pk not in merged_away]
    Thread.objects.bulk_update(survivors, ["subject", "message_count", "last_message_at"])
    result = [0] * len(messages)
    keys: list[ThreadKey] = []
    for conversation, thread in chosen:
        for index in conversation.indexes:
            result[index] = thread.pk
        keys += [
            ThreadKey(organization=organization, message_id=k, thread=thread)
            for k in sorted(conversation.keys - known.keys())
        ]
    ThreadKey.objects.bulk_create(keys)
    return result


def chunked(values: Sequence[str], size: int = LOOKUP_CHUNK) -> Iterator[Sequence[str]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]


def _known_keys(organization: Organization, keys: set[str]) -> dict[str, int]:
    known: dict[str, int] = {}
    for chunk in chunked(sorted(keys)):
        rows = ThreadKey.objects.filter(organization=organization, message_id__in=chunk)
        known.update(rows.values_list("message_id", "thread_id"))
    return known


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


def _lock_threads(organization: Organization, thread_ids: set[int]) -> dict[int, Thread]:
    threads = Thread.objects.select_for_update().filter(organization=organization, id__in=thread_ids)
    locked = {t.pk: t for t in threads.order_by("id")}
    if len(locked) != len(thread_ids):
        raise Retry()
    return locked


def _merge(threads: list[Thread], merged_away: set[int]) -> Thread:
    """Merge `threads` into the oldest: its messages and keys move, counters add up, the rest go."""
    threads.sort(key=lambda t: (t.created_at, t.pk))
    survivor, others = threads[0], threads[1:]
    if not others:
        return survivor
    other_ids = [t.pk for t in others]
    Message.objects.filter(thread_id__in=other_ids).update(thread=survivor)
    ThreadKey.objects.filter(thread_id__in=other_ids).update(thread=survivor)
    for other in others:
        survivor.message_count += other.message_count
        survivor.last_message_at = _latest(survivor.last_message_at, other.last_message_at)
        survivor.subject = survivor.subject or other.subject
    Thread.objects.filter(id__in=other_ids).delete()
    merged_away.update(other_ids)
    return survivor


def _add_to_thread(thread: Thread, batch: list[ParsedMessage], now: datetime) -> None:
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
