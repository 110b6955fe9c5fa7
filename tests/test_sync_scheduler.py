"""The periodic scheduler: an interval of N minutes syncs a mailbox every N minutes, whichever second of
the minute each worker's scheduler runs at, and one minute's scheduler runs queue a mailbox only once."""

from __future__ import annotations

import heapq
import time
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from postroom.mailboxes.models import Mailbox
from postroom.organizations import config
from postroom.organizations.models import Organization
from postroom.sync import scheduler
from postroom.sync.engine import sync_mailbox
from postroom.sync.models import Folder, MailboxSyncState
from tests.conftest import Cast
from tests.factories import make_mailbox
from tests.servers.dovecot import Credentials, Dovecot
from tests.sync_helpers import imap_mailbox, tick

pytest_plugins = ["tests.servers.fixtures"]

START = datetime(2030, 1, 7, 12, 0, tzinfo=UTC)


def syncable(org: Organization, label: str) -> Mailbox:
    mailbox = make_mailbox(org, label)
    Folder.objects.create(
        organization=org, mailbox=mailbox, name="INBOX", display_name="INBOX", selected=True
    )
    return mailbox


def simulate(minutes: int, offsets: list[float], run_seconds: float) -> dict[int, list[datetime]]:
    """Every minute, one scheduler run per worker at `offsets` seconds into the minute; each queued sync
    ends `run_seconds` later and then sets next_sync_at as a successful run does. Returns when each
    mailbox was queued."""
    queued: dict[int, list[datetime]] = defaultdict(list)
    endings: list[tuple[datetime, int]] = []
    runs = sorted(START + timedelta(minutes=m, seconds=s) for m in range(minutes) for s in offsets)
    for now in runs:
        while endings and endings[0][0] <= now:
            finished, mailbox_id = heapq.heappop(endings)
            mailbox = Mailbox.objects.select_related("organization").get(pk=mailbox_id)
            next_sync = scheduler.next_sync_after_success(mailbox, finished)
            MailboxSyncState.objects.filter(mailbox=mailbox).update(next_sync_at=next_sync)
        for mailbox in scheduler.take_due(now):
            queued[mailbox.pk].append(now)
            heapq.heappush(endings, (now + timedelta(seconds=run_seconds), mailbox.pk))
    return queued


def minutes_of(times: list[datetime]) -> list[int]:
    return [int((at - START).total_seconds() // 60) for at in times]


@pytest.mark.parametrize(
    ("offsets", "run_seconds"),
    [
        ([12.0, 37.0], 0.4),  # two workers, quick idle polls
        ([0.9], 0.2),  # one worker whose run lands just after the minute turns
        ([5.0, 5.001, 5.002], 20.0),  # three workers at the same second, slow syncs
        ([58.0], 1.5),  # a worker whose run comes late in the minute
    ],
)
def test_a_one_minute_interval_syncs_every_minute_and_never_twice_a_minute(
    cast: Cast, offsets: list[float], run_seconds: float
) -> None:
    mailboxes = [syncable(cast.acme, "Support"), syncable(cast.globex, "Sales")]

    queued = simulate(10, offsets, run_seconds)

    assert {pk: minutes_of(times) for pk, times in queued.items()} == {
        mailbox.pk: list(range(10)) for mailbox in mailboxes
    }


def test_an_interval_of_n_minutes_syncs_every_n_minutes(cast: Cast) -> None:
    config.set_value("email.sync_interval_minutes", 5, cast.acme)
    every_five = syncable(cast.acme, "Support")
    every_minute = syncable(cast.globex, "Sales")

    queued = simulate(16, [21.0, 44.0], 0.5)

    assert minutes_of(queued[every_five.pk]) == [0, 5, 10, 15]
    assert minutes_of(queued[every_minute.pk]) == list(range(16))


def test_a_lost_sync_task_is_queued_again_after_one_interval(cast: Cast) -> None:
    mailbox = syncable(cast.acme, "Support")
    assert scheduler.take_due(START + timedelta(seconds=30)) == [mailbox]  # its task is never run

    assert scheduler.take_due(START + timedelta(seconds=59)) == []
    assert scheduler.take_due(START + timedelta(seconds=60)) == [mailbox]


def test_a_real_sync_leaves_the_mailbox_due_in_the_next_minute(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    mailbox = imap_mailbox(cast.acme, dovecot, imap_user)
    tick(mailbox, "INBOX")
    if timezone.now().second >= 55:  # keep the queueing and the run in one minute
        time.sleep(60 - timezone.now().second)
    now = timezone.now()

    assert scheduler.take_due(now) == [mailbox]
    assert sync_mailbox(mailbox).status == "ok"

    assert scheduler.take_due(now) == []  # another worker's scheduler run in the same minute
    assert scheduler.take_due(now + timedelta(minutes=1)) == [mailbox]
