"""The worker's IDLE supervisor: one watcher per mailbox across all workers, each worker watching its fair
share, a dead worker's watches taken over at once, new mail stored within seconds, watchers let go when
the INBOX is no longer synced. Two supervisors in one process stand for two workers; their heartbeats are
written by the tests."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import timedelta
from uuid import uuid4

import pytest
from django.utils import timezone

from postroom.operations.heartbeat import FRESH_SECONDS
from postroom.operations.models import WorkerHeartbeat
from postroom.sync import lease
from postroom.sync.idle import IdleSupervisor, claim_idle, idle_candidates
from postroom.sync.models import Folder, MailboxSyncState, Placement
from tests.conftest import Cast
from tests.mailbuilder import build
from tests.servers.dovecot import Credentials, Dovecot
from tests.sync_helpers import append, imap_mailbox, tick

pytest_plugins = ["tests.servers.fixtures"]


def test_only_mailboxes_with_inbox_ticked_are_watched(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    watched = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(watched, "INBOX")
    unticked = imap_mailbox(cast.globex, dovecot, imap_user)
    tick(unticked, "Sent")
    assert idle_candidates() == [watched.pk]


def test_two_workers_never_watch_the_same_mailbox(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX")
    lease.state_of(mailbox)
    assert claim_idle(mailbox.pk, "worker-a") is True
    assert claim_idle(mailbox.pk, "worker-b") is False
    assert claim_idle(mailbox.pk, "worker-a") is True  # renewal
    assert claim_idle(mailbox.pk, "worker-c", gone_holder="worker-x") is False  # not the holder
    MailboxSyncState.objects.filter(mailbox=mailbox).update(idle_expires_at=None)
    assert claim_idle(mailbox.pk, "worker-b") is True  # an expired claim is taken over
    assert claim_idle(mailbox.pk, "worker-c", gone_holder="worker-b") is True  # so is a gone holder's


@pytest.mark.django_db(transaction=True)
def test_supervised_watcher_stores_new_mail_within_seconds_and_stops_when_unticked(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX")
    stop = threading.Event()
    supervisor = IdleSupervisor(stop, owner="worker-a")
    other = IdleSupervisor(threading.Event(), owner="worker-b")
    try:
        assert supervisor.step() == {mailbox.pk}
        assert other.step() == set()
        time.sleep(2)  # the watcher's first sync, then it waits in IDLE
        append(dovecot, imap_user, "INBOX", [build(subject="Arrives while idling")])
        deadline = time.monotonic() + 15
        while not Placement.objects.filter(mailbox=mailbox).exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert Placement.objects.filter(mailbox=mailbox).count() == 1

        Folder.objects.filter(mailbox=mailbox).update(selected=False)
        assert supervisor.step() == set()
        assert MailboxSyncState.objects.get(mailbox=mailbox).idle_owner == ""
    finally:
        stop.set()
        assert supervisor.halt(timeout=60)  # no watcher may touch the database after the test


SupervisorFactory = Callable[[str], IdleSupervisor]


@pytest.fixture
def supervisors() -> Iterator[SupervisorFactory]:
    """Makes supervisors named by owner. After the test their watcher threads are stopped and joined:
    a watcher still syncing while the test database is flushed would block the flush."""
    made: list[IdleSupervisor] = []

    def make(owner: str) -> IdleSupervisor:
        made.append(IdleSupervisor(threading.Event(), owner=owner))
        return made[-1]

    yield make
    assert all([supervisor.halt(timeout=60) for supervisor in made])


def watchable(cast: Cast, dovecot: Dovecot, count: int) -> set[int]:
    """`count` mailboxes with INBOX ticked, each on its own server account (Dovecot limits the
    connections of one account from one address)."""
    ids = set()
    for n in range(count):
        user = dovecot.add_user(f"fair{n}-{uuid4().hex[:8]}@example.test", f"pw-{uuid4().hex}")
        mailbox = imap_mailbox(cast.acme, dovecot, user, label=f"Box {n}")
        tick(mailbox, "INBOX")
        lease.state_of(mailbox)
        ids.add(mailbox.pk)
    return ids


def beat(worker: str, seconds_ago: float = 0) -> None:
    """Write the heartbeat of `worker` ("host:pid") as it was `seconds_ago`."""
    at = timezone.now() - timedelta(seconds=seconds_ago)
    host, _, pid = worker.partition(":")
    WorkerHeartbeat.objects.update_or_create(
        name=worker,
        defaults={"last_beat_at": at},
        create_defaults={"host": host, "pid": int(pid), "started_at": at, "last_beat_at": at},
    )


def watch_counts() -> Counter[str]:
    return Counter(MailboxSyncState.objects.exclude(idle_owner="").values_list("idle_owner", flat=True))


def kill(supervisor: IdleSupervisor) -> None:
    """Stop a supervisor's watchers the way SIGKILL would: its claims stay in the database."""
    for _, event in supervisor.watchers.values():
        event.set()


@pytest.mark.django_db(transaction=True)
def test_a_worker_that_joins_is_handed_its_fair_share_of_the_watches_gently(
    cast: Cast, dovecot: Dovecot, supervisors: SupervisorFactory
) -> None:
    everything = watchable(cast, dovecot, 4)
    first, second = supervisors("host-a:101:a1"), supervisors("host-b:202:b2")
    beat("host-a:101")
    assert first.step() == everything  # alone, the first worker watches every mailbox

    beat("host-b:202")
    assert second.step() == set()  # all held by a live worker: nothing is snatched
    rounds = [(len(first.step()), len(second.step())) for _ in range(3)]

    assert rounds == [(3, 1), (2, 2), (2, 2)]  # half the excess moves per round, then it is stable
    assert set(first.watchers) | set(second.watchers) == everything
    assert watch_counts() == {"host-a:101:a1": 2, "host-b:202:b2": 2}


@pytest.mark.django_db(transaction=True)
def test_the_watches_of_a_worker_that_stopped_beating_are_taken_over_at_the_next_round(
    cast: Cast, dovecot: Dovecot, supervisors: SupervisorFactory
) -> None:
    everything = watchable(cast, dovecot, 4)
    first, second = supervisors("host-a:101:a1"), supervisors("host-b:202:b2")
    beat("host-a:101")
    beat("host-b:202")
    assert len(first.step()) == 2 and len(second.step()) == 2

    kill(first)
    beat("host-a:101", seconds_ago=FRESH_SECONDS + 1)

    assert second.step() == everything
    assert watch_counts() == {"host-b:202:b2": 4}


@pytest.mark.django_db(transaction=True)
def test_the_watches_of_a_dead_process_on_this_machine_are_taken_over_without_a_heartbeat(
    cast: Cast, dovecot: Dovecot, supervisors: SupervisorFactory
) -> None:
    (mailbox_id,) = watchable(cast, dovecot, 1)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])  # noqa: S603
    gone.wait()
    dead_owner = f"{socket.gethostname()}:{gone.pid}:dead"
    assert claim_idle(mailbox_id, dead_owner)
    survivor = supervisors("worker-b")  # no heartbeat written: heartbeats are not trusted

    assert survivor.step() == {mailbox_id}
    assert MailboxSyncState.objects.get(mailbox_id=mailbox_id).idle_owner == "worker-b"


@pytest.mark.django_db(transaction=True)
def test_a_live_workers_watches_are_not_taken_by_a_worker_whose_heartbeat_is_not_written_yet(
    cast: Cast, dovecot: Dovecot, supervisors: SupervisorFactory
) -> None:
    everything = watchable(cast, dovecot, 2)
    first = supervisors("host-a:101:a1")
    beat("host-a:101")
    assert first.step() == everything
    newcomer = supervisors("host-b:202:b2")  # its first round may come before its first beat

    assert newcomer.step() == set()
    assert first.step() == everything
