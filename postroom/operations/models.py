"""What the operator endpoints read that no other table holds: which worker processes are alive, and how
long background tasks take (summed over every worker, so /metrics served by any web process sees all)."""

from __future__ import annotations

from django.db import models


class WorkerHeartbeat(models.Model):
    """One row per running worker process (`postroom worker`, or `postroom run` with its in-process
    worker), touched every few seconds; rows of workers gone for long are pruned."""

    name = models.CharField(max_length=200, unique=True, help_text="host:pid:random, as in sync leases.")
    host = models.CharField(max_length=200)
    pid = models.PositiveIntegerField()
    started_at = models.DateTimeField()
    last_beat_at = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return self.name


class TaskTiming(models.Model):
    """Cumulative duration histogram of one task name, in Prometheus' shape: `bucket_counts[i]` counts
    runs that took at most `TASK_BUCKETS[i]` seconds (not cumulative across buckets; summed at export).
    Workers add their local counts to it with every heartbeat."""

    task = models.CharField(max_length=200, unique=True)
    count = models.PositiveBigIntegerField(default=0)
    total_seconds = models.FloatField(default=0.0)
    errors = models.PositiveBigIntegerField(default=0)
    bucket_counts = models.JSONField(default=list)

    def __str__(self) -> str:
        return self.task
