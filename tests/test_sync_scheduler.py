"""The periodic scheduler: an interval of N minutes syncs a mailbox every N minutes, whichever second of
the minute each worker's scheduler runs at, and one minute's scheduler runs queue a mailbox only once."""

from __future__ import annotations

import heapq
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from postroom.mailboxes.models import Mailbox
from postroom.organizations import config
from postroom.organizations.models import Organization
from postroom.sync import lease, scheduler
from postroom.sync.engine import sync_mailbox
from postroom.sync.models import Folder, MailboxSyncState
from tests.conftest import Cast
from tests.factories import make_mailbox
from tests.servers.dovecot import Credentials, Dovecot
from tests.sync_helpers import imap_mailbox, tick

pytest_plugins = ["tests.servers.fixtures"]

START_AT = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)


def syncable(org: Organization, label: str) -> Mailbox:
    mailbox = make_mailbox(org, label)
    Folder.objects.create(
        organization=org, mailbox=mailbox, name="INBOX", display_name="INBOX", selected=True
    )
    return mailbox


END, START = 0, 1  # at the same instant, a run ends (and lets go of its lease) before another starts


@dataclass
class Trace:
    """When each mailbox's syncs were queued, and when those that ran (not skipped) started."""

    queued: dict[int, list[datetime]] = field(default_factory=lambda: defaultdict(list))
    started: dict[int, list[datetime]] = field(default_factory=lambda: defaultdict(list))


def simulate(minutes: int, offsets: list[float], run_seconds: float, start_delay: float = 0.0) -> Trace:
    """Every minute, one scheduler run per worker at `offsets` seconds into the minute. A queued sync
    starts `start_delay` later (a busy queue) unless the mailbox's previous sync still runs (the lease
    skips it), ends `run_seconds` after its start and then sets next_sync_at as a successful run does.
    The syncs queued by the last scheduler run are played to their end."""
    trace = Trace()
    events: list[tuple[datetime, int, int]] = []  # (when, END or START, mailbox id)
    running: dict[int, datetime] = {}

    def play(until: datetime | None) -> None:
        while events and (until is None or events[0][0] <= until):
            when, kind, mailbox_id = heapq.heappop(events)
            if kind == END:
                finish(mailbox_id, running.pop(mailbox_id), when)
            elif mailbox_id not in running:
                running[mailbox_id] = when
                trace.started[mailbox_id].append(when)
                heapq.heappush(events, (when + timedelta(seconds=run_seconds), END, mailbox_id))

    for now in sorted(START_AT + timedelta(minutes=m, seconds=s) for m in range(minutes) for s in offsets):
        play(now)
        for mailbox in scheduler.take_due(now):
            trace.queued[mailbox.pk].append(now)
            heapq.heappush(events, (now + timedelta(seconds=start_delay), START, mailbox.pk))
    play(None)
    return trace


def finish(mailbox_id: int, started: datetime, now: datetime) -> None:
    """What the end of a successful run writes (engine._record_success), at `now`."""
    mailbox = Mailbox.objects.select_related("organization").get(pk=mailbox_id)
    state = MailboxSyncState.objects.get(mailbox=mailbox)
    next_sync = scheduler.next_sync_after_success(mailbox, state.next_sync_at, started, now)
    MailboxSyncState.objects.filter(pk=state.pk).update(next_sync_at=next_sync)


def minutes_of(times: list[datetime]) -> list[int]:
    return [int((at - START_AT).total_seconds() // 60) for at in times]


@pytest.mark.parametrize(
    ("offsets", "run_seconds", "start_delay"),
    [
        ([12.0, 37.0], 0.4, 0.0),  # two workers, quick idle polls
        ([0.9], 0.2, 0.0),  # one worker whose run lands just after the minute turns
        ([5.0, 5.001, 5.002], 20.0, 0.0),  # three workers at the same second, slow syncs
        ([58.0], 1.5, 0.0),  # a worker whose run comes late in the minute
        ([50.0], 15.0, 0.0),  # syncs that end in the next minute
        ([30.0, 45.0], 40.0, 0.0),  # two workers, syncs that end in the next minute
        ([58.0], 1.0, 3.0),  # syncs that start in the next minute (a busy queue)
        ([20.0], 50.0, 30.0),  # ... and end in it
    ],
)
def test_a_one_minute_interval_syncs_every_minute_and_never_twice_a_minute(
    cast: Cast, offsets: list[float], run_seconds: float, start_delay: float
) -> None:
    mailboxes = [syncable(cast.acme, "Support"), syncable(cast.globex, "Sales")]

    trace = simulate(10, offsets, run_seconds, start_delay)

    assert {pk: minutes_of(times) for pk, times in trace.queued.items()} == {
        mailbox.pk: list(range(10)) for mailbox in mailboxes
    }
    delay = timedelta(seconds=start_delay)
    assert trace.started == {pk: [at + delay for at in times] for pk, times in trace.queued.items()}


def test_an_interval_of_n_minutes_syncs_every_n_minutes(cast: Cast) -> None:
    config.set_value("email.sync_interval_minutes", 5, cast.acme)
    every_five = syncable(cast.acme, "Support")
    every_minute = syncable(cast.globex, "Sales")

    trace = simulate(16, [21.0, 44.0], 50.0)  # each sync ends in the minute after it started

    assert minutes_of(trace.queued[every_five.pk]) == [0, 5, 10, 15]
    assert minutes_of(trace.queued[every_minute.pk]) == list(range(16))


def test_a_sync_longer_than_the_interval_is_queued_once_a_minute_and_runs_again_at_once(cast: Cast) -> None:
    mailbox = syncable(cast.acme, "Support")

    trace = simulate(10, [30.0], 150.0)  # each sync ends at second 0 of its third minute

    assert minutes_of(trace.queued[mailbox.pk]) == list(range(10))  # those queued while it runs are skipped
    assert minutes_of(trace.started[mailbox.pk]) == [0, 3, 6, 9]


def test_after_a_success_the_next_sync_keeps_the_reserved_slot_and_is_never_in_the_past(cast: Cast) -> None:
    mailbox = syncable(cast.acme, "Support")
    started = START_AT + timedelta(seconds=50)

    def after(scheduled: datetime | None, ended: datetime) -> datetime:
        return scheduler.next_sync_after_success(mailbox, scheduled, started, ended)

    queued_slot = scheduler.end_of_minute(START_AT) + timedelta(minutes=1)  # reserved when it was queued
    assert after(queued_slot, started + timedelta(seconds=5)) == queued_slot
    assert after(queued_slot, started + timedelta(seconds=20)) == queued_slot  # ended in the next minute
    running_slot = queued_slot + timedelta(minutes=1)  # reserved again in the minute the run outlasted
    assert after(running_slot, started + timedelta(seconds=70)) == running_slot
    assert after(None, started + timedelta(seconds=5)) == started + timedelta(minutes=1)
    backoff = started + timedelta(minutes=60)
    assert after(backoff, started + timedelta(seconds=5)) == started + timedelta(minutes=1)

    late = START_AT + timedelta(minutes=7, seconds=10)
    assert after(queued_slot, late) == late
    lease.state_of(mailbox)
    MailboxSyncState.objects.filter(mailbox=mailbox).update(next_sync_at=late)
    assert scheduler.take_due(late + timedelta(seconds=5)) == [mailbox]  # due at once
    assert scheduler.take_due(late + timedelta(seconds=30)) == []  # and queued once


def test_a_lost_sync_task_is_queued_again_after_one_interval(cast: Cast) -> None:
    mailbox = syncable(cast.acme, "Support")
    assert scheduler.take_due(START_AT + timedelta(seconds=30)) == [mailbox]  # its task is never run

    assert scheduler.take_due(START_AT + timedelta(seconds=59)) == []
    assert scheduler.take_due(START_AT + timedelta(seconds=60)) == [mailbox]


def test_a_real_sync_leaves_the_mailbox_due_in_the_next_minute(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX")
    now = timezone.now()  # the run may end in the next minute: the reserved slot stays all the same

    assert scheduler.take_due(now) == [mailbox]
    assert sync_mailbox(mailbox).status == "ok"

    assert scheduler.take_due(now) == []  # another worker's scheduler run in the same minute
    assert scheduler.take_due(now + timedelta(minutes=1)) == [mailbox]
