"""Faults the sync must survive: bad mail mid-batch, wrong password, server down, a connection cut
mid-FETCH, a worker holding or abandoning the lease. No message lost, none duplicated, and the mailbox
state says what happened and since when."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from postroom.messages.models import Message
from postroom.messages.store import store_parsed
from postroom.sync import engine, lease
from postroom.sync.engine import sync_mailbox
from postroom.sync.models import MailboxSyncState, Placement
from tests.conftest import Cast
from tests.factories import make_mailbox
from tests.mailbuilder import build
from tests.servers.dovecot import Credentials, Dovecot
from tests.servers.ports import free_port
from tests.sync_helpers import CuttingProxy, append, assert_exactly_once, folder, imap_mailbox, state, tick

pytest_plugins = ["tests.servers.fixtures"]

EML = Path(__file__).parent / "eml"


def test_unparsable_message_mid_batch_is_stored_raw_and_flagged_while_the_batch_goes_on(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    before, after = build(subject="Before"), build(subject="After")
    broken = (EML / "invalid_base64.eml").read_bytes()
    append(dovecot, imap_user, "INBOX", [before, broken, after])
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX")

    report = sync_mailbox(mailbox)

    assert (report.status, report.fetched, report.created, report.parse_errors) == ("ok", 3, 3, 1)
    assert_exactly_once(mailbox, "INBOX", [before, after, broken])
    quarantined = Message.objects.get(placements__mailbox=mailbox, parse_error__gt="")
    assert bytes(quarantined.raw.data).replace(b"\r\n", b"\n") == broken.replace(b"\r\n", b"\n")


def test_wrong_password_is_recorded_backs_off_and_does_not_stop_other_mailboxes(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    other = dovecot.add_user(f"ok-{imap_user.username}", "pw-ok-Q2!")
    good_mail = [build()]
    append(dovecot, other, "INBOX", good_mail)
    broken = imap_mailbox(cast.acme, dovecot, imap_user, label="Broken")
    tick(broken, "INBOX")
    broken.set_password("not-the-password")
    broken.save()
    healthy = imap_mailbox(cast.acme, dovecot, other, label="Healthy")
    tick(healthy, "INBOX")

    reports = engine.sync_due()

    by_label = {r.label: r for r in reports}
    assert by_label["Broken"].status == "failed" and by_label["Broken"].error_code == "login_failed"
    assert "not-the-password" not in by_label["Broken"].error
    assert by_label["Healthy"].status == "ok"
    assert_exactly_once(healthy, "INBOX", good_mail)
    first = state(broken)
    assert first.consecutive_failures == 1 and first.error_since is not None
    assert first.last_error_code == "login_failed" and "not-the-password" not in first.last_error

    MailboxSyncState.objects.filter(pk=first.pk).update(next_sync_at=None)  # due again
    sync_mailbox(broken)

    second = state(broken)
    assert second.consecutive_failures == 2 and second.error_since == first.error_since  # since when
    assert first.next_sync_at is not None and second.next_sync_at is not None
    assert first.last_sync_finished_at is not None and second.last_sync_finished_at is not None
    first_wait = first.next_sync_at - first.last_sync_finished_at
    assert second.next_sync_at - second.last_sync_finished_at == 2 * first_wait  # backs off


def test_failure_then_success_clears_the_error(cast: Cast, dovecot: Dovecot, imap_user: Credentials) -> None:
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX")
    mailbox.set_password("wrong")
    mailbox.save()
    assert sync_mailbox(mailbox).status == "failed"
    mailbox.set_password(imap_user.password)
    mailbox.save()

    assert sync_mailbox(mailbox).status == "ok"

    cleared = state(mailbox)
    assert (cleared.last_error_code, cleared.consecutive_failures, cleared.error_since) == ("", 0, None)


def test_server_down_is_recorded_as_connection_refused(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX")
    mailbox.imap_port = free_port()  # nothing listens there
    mailbox.save()

    report = sync_mailbox(mailbox)

    assert (report.status, report.error_code) == ("failed", "connection_refused")
    down = state(mailbox)
    assert down.last_error_code == "connection_refused" and str(mailbox.imap_port) in down.last_error
    assert down.last_success_at is None and down.lease_owner == ""  # the lease is released


def test_connection_cut_mid_fetch_keeps_committed_batches_and_resumes_without_gap_or_duplicate(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    raws = [build(subject=f"Big {n}", body="x" * 20_000 + "\n") for n in range(30)]
    append(dovecot, imap_user, "INBOX", raws)
    monkeypatch.setattr(engine, "BATCH", 5)
    proxy = CuttingProxy(dovecot.imap_port, cut_after=300_000)
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX")
    mailbox.imap_port = proxy.port
    mailbox.save()

    cut = sync_mailbox(mailbox)

    assert (cut.status, cut.error_code) == ("failed", "protocol_error") and proxy.cuts == 1
    partial = Placement.objects.filter(mailbox=mailbox).count()
    assert 0 < partial < 30 and partial % 5 == 0  # whole batches only
    assert folder(mailbox, "INBOX").last_uid == max(Placement.objects.values_list("uid", flat=True))

    proxy.cut_after = None
    resumed = sync_mailbox(mailbox)
    proxy.close()

    assert resumed.status == "ok" and resumed.fetched == 30 - partial
    assert_exactly_once(mailbox, "INBOX", raws)


def test_mailbox_leased_by_another_worker_is_skipped(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    append(dovecot, imap_user, "INBOX", [build()])
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX")
    assert lease.claim(mailbox, "worker-a")
    assert not lease.claim(mailbox, "worker-b")

    report = sync_mailbox(mailbox, owner="worker-b")

    assert report.status == "skipped"
    assert not Placement.objects.filter(mailbox=mailbox).exists()
    assert state(mailbox).lease_owner == "worker-a"  # untouched


def test_expired_lease_of_a_dead_worker_is_taken_over(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    raws = [build()]
    append(dovecot, imap_user, "INBOX", raws)
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX")
    assert lease.claim(mailbox, "dead-worker")
    MailboxSyncState.objects.filter(mailbox=mailbox).update(
        lease_expires_at=timezone.now() - timedelta(seconds=1)
    )

    report = sync_mailbox(mailbox, owner="new-worker")

    assert report.status == "ok"
    assert_exactly_once(mailbox, "INBOX", raws)
    assert state(mailbox).lease_owner == ""


def test_worker_that_lost_its_lease_commits_nothing_more(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials, monkeypatch: pytest.MonkeyPatch
) -> None:
    raws = [build() for _ in range(6)]
    append(dovecot, imap_user, "INBOX", raws)
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX")
    monkeypatch.setattr(engine, "BATCH", 2)
    real_store = store_parsed
    calls = []

    def store_then_lose_lease(*args: object, **kwargs: object) -> object:
        calls.append(1)
        if len(calls) == 2:  # another worker takes over after our first batch committed
            MailboxSyncState.objects.filter(mailbox=mailbox).update(lease_owner="thief")
        return real_store(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(engine, "store_parsed", store_then_lose_lease)

    report = sync_mailbox(mailbox)

    assert report.status == "skipped"
    assert Placement.objects.filter(mailbox=mailbox).count() == 2  # first batch only
    assert folder(mailbox, "INBOX").last_uid == max(Placement.objects.values_list("uid", flat=True))


def test_lease_of_a_dead_process_on_this_machine_is_taken_over_before_it_expires(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])  # noqa: S603
    dead.wait()
    dead_owner = f"{socket.gethostname()}:{dead.pid}:deadbeef"
    alive_owner = f"{socket.gethostname()}:{os.getpid()}:cafe0001"
    elsewhere = f"other-host.example:{dead.pid}:cafe0002"

    assert lease.claim(mailbox, alive_owner)
    assert not lease.claim(mailbox, "newcomer")  # holder alive: wait
    MailboxSyncState.objects.filter(mailbox=mailbox).update(lease_owner=elsewhere)
    assert not lease.claim(mailbox, "newcomer")  # another machine: only after expiry
    MailboxSyncState.objects.filter(mailbox=mailbox).update(lease_owner=dead_owner)
    assert lease.claim(mailbox, "newcomer")
    assert state(mailbox).lease_owner == "newcomer"
