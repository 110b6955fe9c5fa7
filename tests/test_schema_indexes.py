"""Indexes: every foreign key column can be looked up by an index (deleting a mailbox or an organization
finds its rows that way), and none has an index of its own when another index of its table leads with it
(that one would cost a write per row for nothing). See postroom.schema.drop_covered_index."""

from __future__ import annotations

from typing import Any

import pytest
from django.apps import apps
from django.db import connection, models

pytestmark = pytest.mark.django_db

RAW_SQL_PARTIAL_INDEXES = {"mail_messagebody_unindexed"}  # PostgreSQL only, made by migration mail 0006


def _ours() -> list[type[models.Model]]:
    return [model for model in apps.get_models() if model.__module__.startswith("postroom.")]


def _partial_names() -> set[str]:
    """Indexes and constraints with a condition: they serve only the queries that imply it."""
    declared = [d for model in _ours() for d in [*model._meta.indexes, *model._meta.constraints]]
    conditional = {d.name for d in declared if getattr(d, "condition", None) is not None}
    return conditional | RAW_SQL_PARTIAL_INDEXES


def _indexes(table: str, partial: set[str]) -> dict[str, dict[str, Any]]:
    """Name -> introspected details of the table's indexes, unique constraints and primary key, except
    the `partial` ones."""
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {
        name: c
        for name, c in constraints.items()
        if (c["index"] or c["unique"] or c["primary_key"]) and name not in partial and c["columns"]
    }


def test_every_foreign_key_column_leads_an_index() -> None:
    partial = _partial_names()
    unindexed = []
    for model in _ours():
        leading = {c["columns"][0] for c in _indexes(model._meta.db_table, partial).values()}
        unindexed += [
            f"{model._meta.db_table}.{field.column}"
            for field in model._meta.concrete_fields
            if isinstance(field, models.ForeignKey) and field.column not in leading
        ]
    assert unindexed == []


def test_no_foreign_key_has_an_index_of_its_own_when_another_leads_with_it() -> None:
    partial = _partial_names()
    repeated = []
    for model in _ours():
        keys = {f.column for f in model._meta.concrete_fields if isinstance(f, models.ForeignKey)}
        indexes = _indexes(model._meta.db_table, partial)
        repeated += [
            name
            for name, c in indexes.items()
            if len(c["columns"]) == 1
            and c["columns"][0] in keys
            and not (c["unique"] or c["primary_key"])  # a plain index, as Django makes for a key
            and any(o != name and d["columns"][0] == c["columns"][0] for o, d in indexes.items())
        ]
    assert repeated == []
