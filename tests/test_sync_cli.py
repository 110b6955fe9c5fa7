"""`postroom sync --once`, `postroom mailbox status`, `postroom messages export`, and the Huey tasks that
schedule syncs."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from postroom.organizations import config
from postroom.sync import lease, scheduler, tasks
from postroom.sync.engine import sync_mailbox
from postroom.sync.models import MailboxSyncState, Placement
from tests.cli_helpers import run_cli
from tests.conftest import Cast
from tests.factories import make_mailbox
from tests.mailbuilder import build
from tests.servers.dovecot import Credentials, Dovecot
from tests.sync_helpers import append, imap_mailbox, message_id_of, tick

pytest_plugins = ["tests.servers.fixtures"]

Capsys = pytest.CaptureFixture[str]


def test_sync_once_prints_a_line_per_mailbox_and_exits_1_when_one_failed(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    append(dovecot, imap_user, "INBOX", [build(), build()])
    good = imap_mailbox(cast.acme, dovecot, imap_user, label="Good")
    tick(good, "INBOX")
    bad = imap_mailbox(cast.acme, dovecot, imap_user, label="Bad")
    tick(bad, "INBOX")
    bad.set_password("wrong-one")
    bad.save()

    result = run_cli(capsys, monkeypatch, "sync", "--once")

    assert result.code == 1
    lines = result.out.splitlines()
    assert f"mailbox {good.pk} (Good): ok, 2 new messages (2 fetched)" in lines
    failed = [line for line in lines if line.startswith(f"mailbox {bad.pk} (Bad): FAILED [login_failed]")]
    assert len(failed) == 1 and "wrong-one" not in result.out

    again = run_cli(capsys, monkeypatch, "sync", "--once")  # both synced or backing off: nothing due
    assert (again.code, again.out) == (0, "no mailbox is due\n")

    forced = run_cli(capsys, monkeypatch, "sync", "--once", "--mailbox", str(good.pk))
    assert (forced.code, forced.out) == (0, f"mailbox {good.pk} (Good): ok, 0 new messages (0 fetched)\n")


def test_sync_of_an_unknown_mailbox_is_a_usage_error(
    cast: Cast, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    result = run_cli(capsys, monkeypatch, "sync", "--once", "--mailbox", "987654")
    assert result.code == 2 and "no mailbox with id 987654" in result.err


def test_mailbox_status_shows_counts_last_sync_error_and_backlog(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    append(
        dovecot,
        imap_user,
        "INBOX",
        [build(), build(), b"Subject: broken\r\nContent-Type: multipart/mixed\r\n\r\nno boundary\r\n"],
    )
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX", "Archive")
    sync_mailbox(mailbox)
    append(dovecot, imap_user, "INBOX", [build()])  # arrives after the sync: not yet in the backlog
    mailbox.set_password("wrong")
    mailbox.save()
    sync_mailbox(mailbox)

    result = run_cli(capsys, monkeypatch, "mailbox", "status", str(mailbox.pk), "--json")

    assert result.code == 0
    status = json.loads(result.out)
    assert status["messages"] == 3 and status["parse_errors"] == 1
    assert [q["subject"] for q in status["quarantined"]] == ["broken"] and status["quarantined"][0][
        "parse_error"
    ]
    assert {f["name"]: f["messages"] for f in status["folders"]} == {"INBOX": 3, "Archive": 0}
    assert status["backlog"] == 0
    assert status["error"]["code"] == "login_failed" and status["error"]["since"]
    assert status["last_success_at"] and status["consecutive_failures"] == 1
    assert "wrong" not in result.out.replace("login_failed", "")

    text = run_cli(capsys, monkeypatch, "mailbox", "status", str(mailbox.pk))
    assert text.code == 0
    assert "messages: 3" in text.out and "last error: [login_failed]" in text.out


def test_messages_export_writes_one_json_line_per_message_with_its_folders(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials, capsys: Capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    with_file = build(subject="Invoice", attachments=[("invoice.pdf", "application/pdf", b"%PDF-1.4 x" * 50)])
    both = build(subject="Filed twice")
    append(dovecot, imap_user, "INBOX", [with_file, both])
    append(dovecot, imap_user, "Archive", [both])
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX", "Archive")
    sync_mailbox(mailbox)

    result = run_cli(
        capsys, monkeypatch, "messages", "export", "--mailbox", str(mailbox.pk), "--format", "jsonl"
    )

    assert result.code == 0
    rows = {row["subject"]: row for row in map(json.loads, result.out.splitlines())}
    assert set(rows) == {"Invoice", "Filed twice"}
    assert rows["Filed twice"]["folders"] == ["Archive", "INBOX"]
    assert rows["Invoice"]["attachments"] == [{"name": "invoice.pdf", "type": "application/pdf", "size": 500}]
    invoice = rows["Invoice"]
    assert invoice["message_id"] == message_id_of(with_file)
    assert invoice["from"]["address"] == "ann@example.org" and invoice["parse_error"] == ""
    assert len(invoice["raw_sha256"]) == 64 and invoice["thread_id"] and invoice["date"]
    placed = set(Placement.objects.filter(mailbox=mailbox).values_list("message_id", flat=True))
    assert {row["id"] for row in rows.values()} == placed


def test_periodic_task_syncs_due_mailboxes_and_not_again_before_the_interval(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials, inline_queue: Any
) -> None:
    raws = [build()]
    append(dovecot, imap_user, "INBOX", raws)
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX")
    imap_mailbox(cast.acme, dovecot, imap_user, label="No folders ticked")  # never due

    assert tasks.enqueue_due_syncs.call_local() == 1
    assert Placement.objects.filter(mailbox=mailbox).count() == 1

    assert tasks.enqueue_due_syncs.call_local() == 0  # next_sync_at is a minute away
    MailboxSyncState.objects.filter(mailbox=mailbox).update(next_sync_at=None)
    assert tasks.enqueue_due_syncs.call_local() == 1
    assert Placement.objects.filter(mailbox=mailbox).count() == 1  # safe to run twice


def test_sync_task_skips_a_mailbox_another_worker_holds(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX")
    assert lease.claim(mailbox, "other-worker")

    assert tasks.sync_mailbox_task.call_local(mailbox.pk) == "skipped"
    assert tasks.sync_mailbox_task.call_local(987654) == "gone"


def test_a_due_mailbox_is_queued_by_only_one_of_several_schedulers(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    now = timezone.now()

    assert scheduler.reserve(mailbox, now)
    assert not scheduler.reserve(mailbox, now)  # a second worker process running the periodic task
    assert not scheduler.reserve(mailbox, now + timedelta(seconds=59))
    assert scheduler.reserve(mailbox, now + timedelta(minutes=1))  # lost task: due again after the interval


def test_the_organizations_sync_interval_spaces_runs_and_failures_back_off_up_to_a_cap(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    config.set_value("email.sync_interval_minutes", 15, cast.acme)
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX")
    before = timezone.now()

    sync_mailbox(mailbox)

    next_sync = MailboxSyncState.objects.get(mailbox=mailbox).next_sync_at
    assert next_sync is not None and timedelta(minutes=15) <= next_sync - before < timedelta(minutes=16)
    waits = [scheduler.next_sync_after_failure(mailbox, before, n) - before for n in (1, 2, 3, 4, 9)]
    assert waits == [timedelta(minutes=m) for m in (15, 30, 60, 60, 60)]
