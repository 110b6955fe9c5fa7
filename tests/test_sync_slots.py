"""POSTROOM_SYNC_CONCURRENCY: a worker runs at most that many syncs at once. IDLE watchers woken together
wait their turn (and still sync), the queued sync task defers itself, and no slot is held while a watcher
waits in IDLE."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection
from django.test import override_settings

from postroom.mailboxes.models import Mailbox
from postroom.sync import tasks
from postroom.sync.engine import SyncReport
from postroom.sync.idle import watch_mailbox
from postroom.sync.models import Placement
from postroom.sync.slots import sync_slot
from tests.conftest import Cast
from tests.mailbuilder import build
from tests.servers.dovecot import Credentials, Dovecot
from tests.sync_helpers import append, assert_exactly_once, imap_mailbox, tick

pytest_plugins = ["tests.servers.fixtures"]


@pytest.fixture
def one_slot() -> Iterator[None]:
    with override_settings(POSTROOM_SYNC_CONCURRENCY=1):
        yield


def test_slots_are_bounded_and_a_waiter_gives_up_when_told_to_stop(one_slot: None) -> None:
    stop = threading.Event()
    stop.set()
    with sync_slot() as first:
        with sync_slot(wait=False) as second, sync_slot(stop=stop) as stopped:
            assert (first, second, stopped) == (True, False, False)
    with sync_slot(wait=False) as again:
        assert again is True  # released on leaving the block


def test_a_concurrency_of_two_allows_two_syncs_at_once() -> None:
    with (
        override_settings(POSTROOM_SYNC_CONCURRENCY=2),
        sync_slot(wait=False) as first,
        sync_slot(wait=False) as second,
        sync_slot(wait=False) as third,
    ):
        assert (first, second, third) == (True, True, False)


class Watchers:
    """Runs `watch_mailbox` in threads (IDLE in rounds of 3 s, so they notice the stop soon)."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, mailbox: Mailbox) -> queue.Queue[SyncReport]:
        """Watch `mailbox`; its reports arrive on the returned queue."""
        reports: queue.Queue[SyncReport] = queue.Queue()

        def watch() -> None:
            try:
                for report in watch_mailbox(mailbox, self.stop, idle_seconds=3):
                    reports.put(report)
            finally:
                connection.close()

        thread = threading.Thread(target=watch, daemon=True)
        self.threads.append(thread)
        thread.start()
        return reports


@pytest.fixture
def watchers(transactional_db: None) -> Iterator[Watchers]:
    """Stops and joins the watchers before the test's database goes away."""
    running = Watchers()
    yield running
    running.stop.set()
    for thread in running.threads:
        thread.join(timeout=15)
    assert not any(thread.is_alive() for thread in running.threads)


def test_a_watcher_waits_for_a_slot_then_syncs_and_holds_none_while_idling(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials, one_slot: None, watchers: Watchers
) -> None:
    first = build(subject="Waiting for a slot")
    append(dovecot, imap_user, "INBOX", [first])
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX")

    with sync_slot(wait=False) as busy:  # another mailbox's sync holds the only slot
        assert busy
        reports = watchers.start(mailbox)
        time.sleep(1.5)
        assert reports.empty() and not Placement.objects.filter(mailbox=mailbox).exists()
    assert reports.get(timeout=15).created == 1  # the slot freed: the waiting watcher synced

    time.sleep(1.0)  # the watcher is in IDLE now, holding no slot
    with sync_slot(wait=False) as free:
        assert free
        later = build(subject="Arrived during IDLE")
        append(dovecot, imap_user, "INBOX", [later])
        time.sleep(1.5)  # IDLE woke the watcher, which waits for the slot this test holds
        assert reports.empty()
    assert reports.get(timeout=15).created == 1
    assert_exactly_once(mailbox, "INBOX", [first, later])


def test_the_sync_task_defers_itself_while_all_slots_are_taken(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials, one_slot: None, inline_queue: Any
) -> None:
    append(dovecot, imap_user, "INBOX", [build()])
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX")

    with sync_slot(wait=False):
        assert tasks.sync_mailbox_task.call_local(mailbox.pk) == "deferred"
    deferred = [t for t in inline_queue.scheduled() if t.name.endswith("sync_mailbox_task")]
    assert [t.args for t in deferred] == [(mailbox.pk,)]
    assert not Placement.objects.filter(mailbox=mailbox).exists()

    assert tasks.sync_mailbox_task.call_local(mailbox.pk) == "ok"
    assert Placement.objects.filter(mailbox=mailbox).count() == 1
