"""IMAP IDLE on INBOX: new mail is noticed within seconds where the server supports IDLE; elsewhere the
watcher falls back to polling at the mailbox's interval."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import timedelta
from itertools import islice

import pytest
from django.utils import timezone

from postroom.mailboxes.models import Mailbox
from postroom.sync import lease
from postroom.sync.engine import SyncReport, sync_mailbox
from postroom.sync.idle import wait_for_new_mail, watch_mailbox
from postroom.sync.models import MailboxSyncState
from tests.conftest import Cast
from tests.mailbuilder import build
from tests.servers.dovecot import Credentials, Dovecot
from tests.sync_helpers import append, assert_exactly_once, imap_mailbox, tick

pytest_plugins = ["tests.servers.fixtures"]


def append_later(server: Dovecot, user: Credentials, raw: bytes, delay: float = 0.5) -> threading.Thread:
    """APPEND `raw` to INBOX from another thread after `delay` seconds (the server side only)."""

    def deliver() -> None:
        time.sleep(delay)
        append(server, user, "INBOX", [raw])

    thread = threading.Thread(target=deliver, daemon=True)
    thread.start()
    return thread


@pytest.fixture
def synced_inbox(cast: Cast, dovecot: Dovecot, imap_user: Credentials) -> Mailbox:
    """A mailbox with INBOX ticked, synced once: IDLE then waits for what arrives next."""
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX")
    sync_mailbox(mailbox)
    return mailbox


def test_idle_notices_new_mail_within_seconds(
    synced_inbox: Mailbox, dovecot: Dovecot, imap_user: Credentials
) -> None:
    mailbox = synced_inbox
    raw = build(subject="Urgent")
    delivery = append_later(dovecot, imap_user, raw)
    started = time.monotonic()

    changed = wait_for_new_mail(mailbox, 30)

    assert changed is True and time.monotonic() - started < 10
    delivery.join()
    assert sync_mailbox(mailbox).created == 1
    assert_exactly_once(mailbox, "INBOX", [raw])


def test_idle_times_out_quietly_when_nothing_arrives(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX")

    assert wait_for_new_mail(mailbox, 1) is False


def test_a_stop_ends_the_idle_wait_long_before_its_timeout(synced_inbox: Mailbox) -> None:
    mailbox = synced_inbox
    stop = threading.Event()
    threading.Timer(0.5, stop.set).start()
    started = time.monotonic()

    assert wait_for_new_mail(mailbox, 120, stop) is False
    assert time.monotonic() - started < 30  # a worker that stops is not held by a quiet mailbox


def test_idle_is_not_attempted_without_the_capability(
    cast: Cast, dovecot_bare: Dovecot, bare_imap_user: Credentials
) -> None:
    mailbox = imap_mailbox(cast.acme, dovecot_bare, bare_imap_user)
    tick(mailbox, "INBOX")

    assert wait_for_new_mail(mailbox, 1) is None


def test_watcher_syncs_again_as_soon_as_idle_reports_new_mail(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    first = build(subject="Before watching")
    append(dovecot, imap_user, "INBOX", [first])
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX")
    later = build(subject="While watching")
    delivery = append_later(dovecot, imap_user, later, delay=2.0)
    started = time.monotonic()

    reports = list(islice(watch_mailbox(mailbox, threading.Event(), idle_seconds=30), 2))

    assert [r.created for r in reports] == [1, 1] and time.monotonic() - started < 15
    delivery.join()
    assert_exactly_once(mailbox, "INBOX", [first, later])


def test_mail_that_arrived_since_the_last_sync_ends_the_wait_at_once(
    synced_inbox: Mailbox, dovecot: Dovecot, imap_user: Credentials
) -> None:
    mailbox = synced_inbox
    append(dovecot, imap_user, "INBOX", [build()])
    started = time.monotonic()

    assert wait_for_new_mail(mailbox, 30) is True and time.monotonic() - started < 5


def watcher_skipped_by_a_scheduled_sync(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> tuple[Mailbox, str, Iterator[SyncReport]]:
    """A watcher on a fresh mailbox (INBOX ticked) whose first run was skipped because a scheduled sync
    task is running: the mailbox is reserved a minute ahead and the task holds the sync lease. Returns the
    mailbox, the task's lease owner and the watcher."""
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX")
    owner = "scheduled-task"
    assert lease.claim(mailbox, owner)
    next_sync = timezone.now() + timedelta(minutes=1)
    MailboxSyncState.objects.filter(mailbox=mailbox).update(next_sync_at=next_sync)
    watcher = watch_mailbox(mailbox, threading.Event(), idle_seconds=30)
    assert next(watcher).status == "skipped"
    return mailbox, owner, watcher


def test_a_watcher_skipped_by_a_running_sync_still_idles_and_gets_the_next_message_in_seconds(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    mailbox, other, watcher = watcher_skipped_by_a_scheduled_sync(cast, dovecot, imap_user)

    lease.release(mailbox.pk, other)  # the scheduled run ends; the watcher goes on to IDLE
    raw = build(subject="First after the worker started")
    delivery = append_later(dovecot, imap_user, raw, delay=1.0)
    started = time.monotonic()
    report = next(watcher)

    assert report.status == "ok" and report.created == 1 and time.monotonic() - started < 10
    delivery.join()
    assert_exactly_once(mailbox, "INBOX", [raw])


def test_a_skipped_watcher_woken_by_mail_it_could_not_store_retries_shortly(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    mailbox, other, watcher = watcher_skipped_by_a_scheduled_sync(cast, dovecot, imap_user)
    raw = build(subject="Arrived while the other run held the mailbox")
    append(dovecot, imap_user, "INBOX", [raw])  # the other run ends without storing it
    lease.release(mailbox.pk, other)
    started = time.monotonic()

    report = next(watcher)

    assert report.created == 1 and time.monotonic() - started < 5
    assert_exactly_once(mailbox, "INBOX", [raw])
