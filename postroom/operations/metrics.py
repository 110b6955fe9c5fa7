"""Prometheus metrics, computed from the database at scrape time.

Workers are separate processes on any number of machines and the web process serving /metrics runs no
tasks, so nothing is counted in process memory: counters are columns the work itself keeps (messages a
mailbox's syncs stored, leads and cases, auto-replies), gauges are read from their tables (sync lag,
backlog, outbox depth), and task durations are the histogram every worker adds to `TaskTiming` with its
heartbeat. Any web process answers for the whole install. Labels: `organization` (slug) and `mailbox`
(id) — never an address, a subject or a name.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.db.models import Count, QuerySet
from django.utils import timezone
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from postroom.crm.models import Case, Lead
from postroom.messages import search_index
from postroom.operations.heartbeat import FRESH_SECONDS, TASK_BUCKETS
from postroom.operations.models import TaskTiming, WorkerHeartbeat
from postroom.organizations.models import Organization
from postroom.outbox.models import FAILING, Kind, OutgoingMessage
from postroom.processing.models import InboundJob
from postroom.sync.models import Folder, MailboxSyncState

MAILBOX = ["organization", "mailbox"]


class DatabaseCollector(Collector):
    """Everything /metrics shows, read fresh on every scrape."""

    def __init__(self, now: datetime | None = None) -> None:
        self.now = now

    def collect(self) -> Iterator[Metric]:
        now = self.now or timezone.now()
        slugs = dict(Organization.objects.values_list("pk", "slug"))
        yield from sync_metrics(slugs, now)
        yield from work_metrics(slugs)
        yield from task_metrics()
        yield from worker_metrics(now)


def sync_metrics(slugs: dict[int, str], now: datetime) -> Iterable[Metric]:
    synced = CounterMetricFamily(
        "postroom_messages_synced", "Messages the mailbox's syncs stored (new to it).", labels=MAILBOX
    )
    fetched = CounterMetricFamily(
        "postroom_messages_fetched", "Messages the mailbox's syncs fetched from the server.", labels=MAILBOX
    )
    lag = GaugeMetricFamily(
        "postroom_sync_lag_seconds", "Seconds since the mailbox's last successful sync.", labels=MAILBOX
    )
    failures = GaugeMetricFamily(
        "postroom_sync_consecutive_failures", "Failed syncs since the last good one.", labels=MAILBOX
    )
    for state in MailboxSyncState.objects.only(
        "organization_id", "mailbox_id", "messages_created", "messages_fetched", "last_success_at",
        "consecutive_failures",
    ):  # fmt: skip
        labels = [slugs.get(state.organization_id, ""), str(state.mailbox_id)]
        synced.add_metric(labels, state.messages_created)
        fetched.add_metric(labels, state.messages_fetched)
        failures.add_metric(labels, state.consecutive_failures)
        if state.last_success_at is not None:
            lag.add_metric(labels, (now - state.last_success_at).total_seconds())
    backlog = GaugeMetricFamily(
        "postroom_sync_backlog_messages",
        "Messages on the server not yet fetched (UIDNEXT - 1 minus the checkpoint, as of the last sync).",
        labels=MAILBOX,
    )
    totals: dict[tuple[str, str], int] = {}
    folders = Folder.objects.filter(selected=True, uidnext__isnull=False)
    for org_id, mailbox_id, uidnext, last_uid in folders.values_list(
        "organization_id", "mailbox_id", "uidnext", "last_uid"
    ):
        key = (slugs.get(org_id, ""), str(mailbox_id))
        totals[key] = totals.get(key, 0) + max((uidnext or 1) - 1 - last_uid, 0)
    for key, value in sorted(totals.items()):
        backlog.add_metric(list(key), value)
    return [synced, fetched, lag, failures, backlog]


def work_metrics(slugs: dict[int, str]) -> Iterable[Metric]:
    outbox = GaugeMetricFamily(
        "postroom_outbox_messages", "Outgoing messages by status.", labels=["organization", "status"]
    )
    for org_id, status, n in _grouped(OutgoingMessage.objects.all(), "status"):
        outbox.add_metric([slugs.get(org_id, ""), status], n)
    failing = GaugeMetricFamily(
        "postroom_outbox_failing_messages",
        "Outgoing messages failed for good or waiting to retry after a failed attempt.",
        labels=["organization"],
    )
    for org_id, n in _per_org(OutgoingMessage.objects.filter(FAILING)):
        failing.add_metric([slugs.get(org_id, "")], n)
    replies = CounterMetricFamily(
        "postroom_auto_replies", "Auto-replies queued, by status.", labels=["organization", "status"]
    )
    for org_id, status, n in _grouped(OutgoingMessage.objects.filter(kind=Kind.AUTO_REPLY), "status"):
        replies.add_metric([slugs.get(org_id, ""), status], n)
    conversions = CounterMetricFamily(
        "postroom_conversions", "Leads and cases created from mail.", labels=["organization", "kind"]
    )
    for kind, model in (("lead", Lead), ("case", Case)):
        for org_id, n in _per_org(model.objects.all()):
            conversions.add_metric([slugs.get(org_id, ""), kind], n)
    jobs = GaugeMetricFamily(
        "postroom_inbound_jobs", "Processing jobs by status.", labels=["organization", "status"]
    )
    for org_id, status, n in _grouped(InboundJob.objects.all(), "status"):
        jobs.add_metric([slugs.get(org_id, ""), status], n)
    unindexed = GaugeMetricFamily(
        "postroom_search_bodies_unindexed",
        "Stored bodies whose search vector is not filled yet (PostgreSQL; found by their text meanwhile).",
        value=search_index.pending(),
    )
    return [outbox, failing, replies, conversions, jobs, unindexed]


def _grouped(rows: QuerySet[Any], field: str) -> list[tuple[int, str, int]]:
    """(organization id, value of `field`, rows) for every pair that has rows."""
    return sorted(rows.values_list("organization_id", field).annotate(n=Count("id")).order_by())


def _per_org(rows: QuerySet[Any]) -> list[tuple[int, int]]:
    return sorted(rows.values_list("organization_id").annotate(n=Count("id")).order_by())


def task_metrics() -> Iterable[Metric]:
    durations = HistogramMetricFamily(
        "postroom_task_duration_seconds", "Background task run time, over all workers.", labels=["task"]
    )
    errors = CounterMetricFamily("postroom_task_errors", "Task runs that raised.", labels=["task"])
    for timing in TaskTiming.objects.order_by("task"):
        cumulative, buckets = 0, []
        bounds = [*(str(bound) for bound in TASK_BUCKETS), "+Inf"]
        for bound, count in zip(bounds, timing.bucket_counts, strict=False):
            cumulative += count
            buckets.append((bound, cumulative))
        durations.add_metric([timing.task], buckets, sum_value=timing.total_seconds)
        errors.add_metric([timing.task], timing.errors)
    return [durations, errors]


def worker_metrics(now: datetime) -> Iterable[Metric]:
    age = GaugeMetricFamily(
        "postroom_worker_heartbeat_age_seconds",
        "Seconds since each worker's last heartbeat.",
        labels=["worker"],
    )
    alive = 0
    for name, beat in WorkerHeartbeat.objects.values_list("name", "last_beat_at"):
        seconds = (now - beat).total_seconds()
        age.add_metric([name], seconds)
        alive += seconds <= FRESH_SECONDS
    workers = GaugeMetricFamily("postroom_workers_alive", "Workers with a fresh heartbeat.", value=alive)
    return [age, workers]


def exposition() -> bytes:
    """The Prometheus text format of everything above."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(DatabaseCollector())
    return generate_latest(registry)
