"""/healthz and the worker heartbeats behind it: 200 only with the database, the queue and a fresh
worker heartbeat (or inline tasks), 503 otherwise, and never any organization data."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.test import Client
from django.utils import timezone

from postroom.operations import health, liveness
from postroom.operations.heartbeat import (
    FRESH_SECONDS,
    PRUNE_AFTER,
    TASK_BUCKETS,
    Heartbeat,
    TimingRecorder,
)
from postroom.operations.models import TaskTiming, WorkerHeartbeat
from postroom.outbox.models import Kind, OutgoingMessage, Status
from tests.conftest import Cast
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db


def beat(name: str = "host-a:101", seconds_ago: float = 1) -> WorkerHeartbeat:
    at = timezone.now() - timedelta(seconds=seconds_ago)
    host, _, pid = name.partition(":")
    return WorkerHeartbeat.objects.create(name=name, host=host, pid=int(pid), started_at=at, last_beat_at=at)


def healthz() -> Any:
    return Client().get("/healthz")


def test_healthy_with_a_fresh_worker_heartbeat() -> None:
    beat("host-a:101", seconds_ago=2)
    response = healthz()
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["database"], body["queue"]) == ("ok", "ok", "ok")
    assert body["checks"]["workers"] == "ok"
    [worker] = body["workers"]
    assert (worker["name"], worker["host"], worker["pid"]) == ("host-a:101", "host-a", 101)
    assert 1 < worker["age_s"] < 10 and worker["fresh"] is True
    assert response["Cache-Control"].startswith("max-age=0")


def test_unhealthy_without_any_worker() -> None:
    response = healthz()
    assert response.status_code == 503
    assert response.json()["status"] == "error"
    assert response.json()["checks"]["workers"].startswith("error: no worker heartbeat")


def test_unhealthy_when_every_heartbeat_is_stale() -> None:
    beat("host-a:101", seconds_ago=FRESH_SECONDS + 5)
    response = healthz()
    assert response.status_code == 503
    assert response.json()["workers"][0]["fresh"] is False


def test_inline_tasks_need_no_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(health, "tasks_run_inline", lambda: True)
    assert healthz().status_code == 200


def test_unreachable_queue_is_unhealthy_even_with_workers(monkeypatch: pytest.MonkeyPatch) -> None:
    beat()

    class Broken:
        def pending_count(self) -> int:
            raise ConnectionError("redis down")

    monkeypatch.setattr(health, "queue", Broken)
    response = healthz()
    assert response.status_code == 503
    assert response.json()["queue"] == "error"
    assert response.json()["checks"]["queue"] == "error: ConnectionError"


def test_no_login_needed_and_no_organization_data(cast: Cast) -> None:
    make_mailbox(cast.acme, "Support", email="support@acme.example")
    beat()
    response = healthz()
    assert response.status_code == 200
    text = response.content.decode()
    assert "acme" not in text.lower() and "support@" not in text


def test_only_get() -> None:
    assert Client().post("/healthz").status_code == 405


def test_heartbeat_writes_its_row_adds_timings_and_prunes_long_silent_workers() -> None:
    gone = beat("host-b:7", seconds_ago=PRUNE_AFTER.total_seconds() + 60)
    recorder = TimingRecorder()
    task = SimpleNamespace(id="t1", name="postroom.sync.tasks.sync_mailbox_task")
    recorder.before(task)
    recorder.after(task, "ok", None)
    recorder.record("postroom.sync.tasks.sync_mailbox_task", 7.0, failed=True)
    heartbeat = Heartbeat(recorder)

    heartbeat.beat()
    heartbeat.beat()  # a second beat adds nothing that was not measured again

    row = WorkerHeartbeat.objects.get(name=heartbeat.name)
    assert (row.host, row.pid) == (socket.gethostname(), os.getpid())
    assert not WorkerHeartbeat.objects.filter(pk=gone.pk).exists()
    timing = TaskTiming.objects.get(task="postroom.sync.tasks.sync_mailbox_task")
    assert (timing.count, timing.errors) == (2, 1)
    assert 7.0 <= timing.total_seconds < 8.0
    assert len(timing.bucket_counts) == len(TASK_BUCKETS) + 1
    assert timing.bucket_counts[0] == 1  # the instant run
    assert timing.bucket_counts[TASK_BUCKETS.index(10)] == 1  # 7 s: in the "<= 10 s" bucket


def test_timings_of_two_workers_add_up() -> None:
    for _ in range(2):
        recorder = TimingRecorder()
        recorder.record("postroom.outbox.tasks.sweep_outbox", 0.2)
        recorder.flush()
    timing = TaskTiming.objects.get(task="postroom.outbox.tasks.sweep_outbox")
    assert timing.count == 2 and timing.bucket_counts[TASK_BUCKETS.index(0.25)] == 2


def test_a_failed_flush_keeps_the_measurements(monkeypatch: pytest.MonkeyPatch) -> None:
    from postroom.operations import heartbeat

    recorder = TimingRecorder()
    recorder.record("postroom.processing.tasks.sweep_inbound_jobs", 0.02)

    def refuse(task_name: str, timing: object) -> None:
        raise RuntimeError("database went away")

    monkeypatch.setattr(heartbeat, "_add_timing", refuse)
    with pytest.raises(RuntimeError):
        recorder.flush()
    monkeypatch.undo()
    recorder.flush()
    assert TaskTiming.objects.get(task="postroom.processing.tasks.sweep_inbound_jobs").count == 1


def test_claim_tokens_name_their_process_and_a_dead_holder_is_seen() -> None:
    own = liveness.claim_token()
    assert len(own) == 32 and own != liveness.claim_token()
    assert not liveness.holder_is_dead(own)  # this process is alive
    assert not liveness.holder_is_dead(uuid.uuid4().hex)  # another machine's (or an old) token
    gone = subprocess.Popen([sys.executable, "-c", "pass"])  # noqa: S603
    gone.wait()
    dead = own[:8] + f"{gone.pid:08x}" + own[16:]
    assert liveness.holder_is_dead(dead)


def test_a_dead_workers_outgoing_message_is_freed_for_the_next_sweep(cast: Cast) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])  # noqa: S603
    gone.wait()
    own = liveness.claim_token()
    now = timezone.now()
    mailbox = make_mailbox(cast.acme, "Support")
    rows = {
        holder: OutgoingMessage.objects.create(
            organization=cast.acme,
            mailbox=mailbox,
            kind=Kind.AUTO_REPLY,
            status=Status.SENDING,
            claim_token=token,
            lease_expires_at=now + timedelta(minutes=5),
            envelope_from=mailbox.email,
            recipients=["x@example.org"],
            message_id=f"{holder}@acme",
            raw=b"x",
        )  # fmt: skip
        for holder, token in (("dead", own[:8] + f"{gone.pid:08x}" + own[16:]), ("alive", own))
    }
    sending = OutgoingMessage.objects.filter(status=Status.SENDING)

    assert liveness.expire_dead_claims(sending, now) == 1

    rows["dead"].refresh_from_db()
    rows["alive"].refresh_from_db()
    assert rows["dead"].lease_expires_at is not None and rows["dead"].lease_expires_at < now
    assert rows["alive"].lease_expires_at == now + timedelta(minutes=5)
    assert liveness.expire_dead_claims(sending, now) == 0  # already free: nothing more to do
