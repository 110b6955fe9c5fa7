"""/metrics: off without POSTROOM_METRICS_TOKEN, 401 without the right bearer token, and with it the
Prometheus text format of what the database holds (labels are slugs and ids, never addresses)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from postroom.messages import search_index
from postroom.messages.store import store_messages
from postroom.operations.heartbeat import TimingRecorder
from postroom.operations.models import WorkerHeartbeat
from postroom.outbox.models import Kind, OutgoingMessage, Status
from postroom.sync.models import Folder, MailboxSyncState
from tests.conftest import Cast
from tests.factories import make_mailbox
from tests.mailbuilder import build

pytestmark = pytest.mark.django_db
TOKEN = "metrics-Token-93xq"


@pytest.fixture
def token(settings: Any) -> str:
    settings.POSTROOM_METRICS_TOKEN = TOKEN
    return TOKEN


def scrape(token: str | None = TOKEN) -> Any:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return Client().get("/metrics", headers=headers)


def samples(response: Any) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = response.content.decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def test_off_without_a_configured_token(settings: Any) -> None:
    settings.POSTROOM_METRICS_TOKEN = ""
    assert scrape().status_code == 404


@pytest.mark.parametrize("given", [None, "wrong-token", TOKEN + "x"])
def test_refused_without_the_right_bearer_token(token: str, given: str | None) -> None:
    response = scrape(given)
    assert response.status_code == 401
    assert response["WWW-Authenticate"].startswith("Bearer")
    assert b"postroom_" not in response.content


def test_basic_auth_with_the_token_is_refused(token: str) -> None:
    assert Client().get("/metrics", HTTP_AUTHORIZATION=f"Basic {token}").status_code == 401


def test_mailbox_sync_figures(token: str, cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme, "Support", email="support@acme.example")
    MailboxSyncState.objects.create(
        organization=cast.acme,
        mailbox=mailbox,
        messages_created=42,
        messages_fetched=45,
        consecutive_failures=2,
        last_success_at=timezone.now() - timedelta(seconds=90),
    )
    Folder.objects.create(
        organization=cast.acme, mailbox=mailbox, name="INBOX", display_name="INBOX", selected=True,
        uidnext=101, last_uid=70,
    )  # fmt: skip
    Folder.objects.create(
        organization=cast.acme, mailbox=mailbox, name="Old", display_name="Old", selected=False,
        uidnext=500, last_uid=0,
    )  # fmt: skip

    response = scrape()

    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain; version=0.0.4")
    found = samples(response)
    labels = (("mailbox", str(mailbox.pk)), ("organization", "acme"))
    assert found[("postroom_messages_synced_total", labels)] == 42
    assert found[("postroom_messages_fetched_total", labels)] == 45
    assert found[("postroom_sync_consecutive_failures", labels)] == 2
    assert 90 <= found[("postroom_sync_lag_seconds", labels)] < 120
    assert found[("postroom_sync_backlog_messages", labels)] == 30  # unticked folders do not count
    assert "support@acme.example" not in response.content.decode()


def test_outbox_depth_failures_and_auto_replies(token: str, cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme, "Support")
    for n, (kind, status, attempts) in enumerate(
        [
            (Kind.AUTO_REPLY, Status.SENT, 1),
            (Kind.AUTO_REPLY, Status.QUEUED, 0),
            (Kind.REPLY, Status.QUEUED, 3),
            (Kind.REPLY, Status.FAILED, 10),
        ]
    ):
        OutgoingMessage.objects.create(
            organization=cast.acme, mailbox=mailbox, kind=kind, status=status, attempts=attempts,
            envelope_from=mailbox.email, recipients=["x@example.org"], message_id=f"m{n}@acme", raw=b"x",
        )  # fmt: skip

    found = samples(scrape())

    acme = ("organization", "acme")
    assert found[("postroom_outbox_messages", (acme, ("status", "queued")))] == 2
    assert found[("postroom_outbox_messages", (acme, ("status", "failed")))] == 1
    assert found[("postroom_outbox_failing_messages", (acme,))] == 2  # failed + queued after a failure
    assert found[("postroom_auto_replies_total", (acme, ("status", "sent")))] == 1
    assert found[("postroom_auto_replies_total", (acme, ("status", "queued")))] == 1


def test_task_durations_over_all_workers_and_worker_ages(token: str) -> None:
    for seconds in (0.03, 0.3, 40.0):
        recorder = TimingRecorder()  # one per worker process
        recorder.record("postroom.sync.tasks.sync_mailbox_task", seconds)
        recorder.flush()
    at = timezone.now() - timedelta(seconds=5)
    WorkerHeartbeat.objects.create(name="h:1", host="h", pid=1, started_at=at, last_beat_at=at)

    found = samples(scrape())

    task = ("task", "postroom.sync.tasks.sync_mailbox_task")
    assert found[("postroom_task_duration_seconds_count", (task,))] == 3
    assert found[("postroom_task_duration_seconds_sum", (task,))] == pytest.approx(40.33)
    assert found[("postroom_task_duration_seconds_bucket", (("le", "0.05"), task))] == 1
    assert found[("postroom_task_duration_seconds_bucket", (("le", "0.5"), task))] == 2
    assert found[("postroom_task_duration_seconds_bucket", (("le", "+Inf"), task))] == 3
    assert found[("postroom_workers_alive", ())] == 1
    assert 5 <= found[("postroom_worker_heartbeat_age_seconds", (("worker", "h:1"),))] < 30


def test_bodies_waiting_for_their_search_vector(token: str, cast: Cast) -> None:
    store_messages(cast.acme, [build(subject=f"m{n}", body="words\n") for n in range(3)])
    waiting = 3 if search_index.deferred() else 0  # SQLite indexes in its FTS5 triggers at once

    assert samples(scrape())[("postroom_search_bodies_unindexed", ())] == waiting
    search_index.index_pending()
    assert samples(scrape())[("postroom_search_bodies_unindexed", ())] == 0
