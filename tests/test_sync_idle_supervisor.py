"""The worker's IDLE supervisor: one watcher per mailbox across all workers, new mail stored within
seconds, watchers let go when the INBOX is no longer synced."""

from __future__ import annotations

import threading
import time

import pytest

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
    assert claim_idle(mailbox, "worker-a") is True
    assert claim_idle(mailbox, "worker-b") is False
    assert claim_idle(mailbox, "worker-a") is True  # renewal
    MailboxSyncState.objects.filter(mailbox=mailbox).update(idle_expires_at=None)
    assert claim_idle(mailbox, "worker-b") is True  # an expired claim is taken over


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
        for _, event in list(supervisor.watchers.values()):
            event.set()
