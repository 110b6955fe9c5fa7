"""Recording changes: model signals take a snapshot before and after every save, M2M change and delete of
a tracked object (see `trackers`), so the web UI, the API, the command line and config import are all
covered, whichever path saved the object. Of a lead only a save of the language is recorded: conversion
creates leads by the thousand, people only set their language (`Tracker.edited_fields`).

Inside `batch()` the snapshots of one object are merged: a mailbox saved with its access lists, or a rule
with its conditions, becomes one entry written at the end of the batch (in the caller's transaction), with
the state before the first change and after the last.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.db.models.signals import m2m_changed, post_delete, post_save, pre_delete, pre_save

from postroom.audit.actor import current_actor
from postroom.audit.models import CONCEALED_CHANGE, Action, AuditEntry
from postroom.audit.trackers import TRACKERS, Snapshot, Tracker
from postroom.messages import bulk

_BEFORE = "_audit_before"
Key = tuple[type[models.Model], Any]


@dataclass
class Pending:
    instance: models.Model
    pk: Any  # kept apart: Django clears instance.pk once the row is deleted
    before: Snapshot | None


_batch: ContextVar[dict[Key, Pending] | None] = ContextVar("audit_batch", default=None)


@contextmanager
def batch() -> Iterator[None]:
    """Merge every change made inside into one entry per object, written when the block ends without an
    exception. Nested batches join the outermost one."""
    if _batch.get() is not None:
        yield
        return
    pending: dict[Key, Pending] = {}
    token = _batch.set(pending)
    try:
        yield
    finally:
        _batch.reset(token)
    for item in pending.values():
        _record(item.instance, item.pk, item.before, _current_snapshot(item.instance, item.pk))


def diff(before: Snapshot | None, after: Snapshot | None, secrets: frozenset[str]) -> dict[str, Any]:
    """field -> [old, new] for every field that differs; a secret field -> "changed" instead."""
    old_values, new_values = before or {}, after or {}
    changes: dict[str, Any] = {}
    for key in sorted(set(old_values) | set(new_values)):
        old, new = old_values.get(key), new_values.get(key)
        if old == new or (before is None and new in (None, "", [])):
            continue
        changes[key] = CONCEALED_CHANGE if key in secrets else [old, new]
    return changes


def watch(instance: models.Model) -> None:
    """Remember `instance`'s state before a change (a no-op for untracked models or already watched)."""
    tracker = TRACKERS.get(type(instance))
    if tracker is None or tracker.skip(instance):
        return
    pending = _batch.get()
    if pending is not None and (type(instance), instance.pk) in pending:
        return
    before = _current_snapshot(instance, instance.pk) if instance.pk is not None else None
    if pending is not None and instance.pk is not None:
        pending[(type(instance), instance.pk)] = Pending(instance, instance.pk, before)
    else:
        instance.__dict__[_BEFORE] = before


def settle(instance: models.Model) -> None:
    """The change to `instance` is done: record it now, or at the end of the batch."""
    tracker = TRACKERS.get(type(instance))
    if tracker is None or tracker.skip(instance) or _BEFORE not in instance.__dict__:
        return
    before = instance.__dict__.pop(_BEFORE)
    pending = _batch.get()
    if pending is None:
        _record(instance, instance.pk, before, _current_snapshot(instance, instance.pk))
    else:
        pending.setdefault((type(instance), instance.pk), Pending(instance, instance.pk, before))


def _current_snapshot(instance: models.Model, pk: Any) -> Snapshot | None:
    tracker = TRACKERS[type(instance)]
    fresh = type(instance)._default_manager.filter(pk=pk).first()
    return None if fresh is None else tracker.snapshot(fresh)


def _record(instance: models.Model, pk: Any, before: Snapshot | None, after: Snapshot | None) -> None:
    tracker: Tracker = TRACKERS[type(instance)]
    if before is None and after is None:
        return  # created and deleted inside one batch
    changes = diff(before, after, tracker.secrets)
    action = Action.CREATED if before is None else Action.DELETED if after is None else Action.CHANGED
    if action == Action.CHANGED and not changes:
        return
    actor = current_actor()
    AuditEntry.objects.create(
        organization_id=getattr(instance, "organization_id", None),
        actor=actor.user,
        actor_label=actor.label,
        action=action,
        object_type=tracker.object_type,
        object_id=pk,
        object_label=tracker.label(instance)[:300],
        changes={} if action == Action.DELETED else changes,
    )


# --- Signal receivers -------------------------------------------------------------------------------


def _before_save(
    sender: type[models.Model],
    instance: models.Model,
    raw: bool = False,
    update_fields: frozenset[str] | None = None,
    **kw: Any,
) -> None:
    if not raw and TRACKERS[sender].records_save(update_fields):
        watch(instance)


def _after_save(sender: type[models.Model], instance: models.Model, raw: bool = False, **kw: Any) -> None:
    if not raw:
        settle(instance)


def _is_cascade(instance: models.Model, origin: Any) -> bool:
    """A delete that follows from deleting something else (an organization, a mailbox, a user): the
    parent's own entry (or its absence) says it all."""
    if isinstance(origin, models.Model):
        return type(origin) is not type(instance)
    if isinstance(origin, models.QuerySet):
        return origin.model is not type(instance)
    return False


def _before_delete(sender: type[models.Model], instance: models.Model, origin: Any = None, **kw: Any) -> None:
    if not _is_cascade(instance, origin):
        watch(instance)


def _after_delete(sender: type[models.Model], instance: models.Model, **kw: Any) -> None:
    settle(instance)


def _m2m(sender: Any, instance: models.Model, action: str, reverse: bool, **kw: Any) -> None:
    # Only the forward side (mailbox.access_roles.set(...), membership.roles.add(...)); the reverse side
    # is reached when a role or user is deleted, whose own entry covers it.
    if reverse:
        return
    if action.startswith("pre_"):
        watch(instance)
    elif action.startswith("post_"):
        settle(instance)


def connect() -> None:
    for model, tracker in TRACKERS.items():
        uid = f"audit-{model._meta.label}"
        pre_save.connect(_before_save, sender=model, dispatch_uid=uid)
        post_save.connect(_after_save, sender=model, dispatch_uid=uid)
        if tracker.edited_fields is not None:
            # Only edits of those fields are recorded (see Tracker.edited_fields): nothing on creation,
            # so conversion may insert leads by the batch.
            bulk.ignores_creation(model, _before_save, _after_save)
            continue
        pre_delete.connect(_before_delete, sender=model, dispatch_uid=uid)
        post_delete.connect(_after_delete, sender=model, dispatch_uid=uid)
        for field in model._meta.many_to_many:
            through = getattr(model, field.name).through
            m2m_changed.connect(_m2m, sender=through, dispatch_uid=f"{uid}-{field.name}")
