"""Indexes: every foreign key column can be looked up by an index (deleting a mailbox or an organization
finds its rows that way), and none has an index of its own when another index of its table leads with it
(that one would cost a write per row for nothing). See postroom.schema.drop_covered_index."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection, models

pytestmark = pytest.mark.django_db

RAW_SQL_PARTIAL_INDEXES = {"mail_messagebody_unindexed"}  # PostgreSQL only, made by migration mail 0006


def _ours() -> list[type[models.Model]]:
    return [model for model in apps.get_models() if model.__module__.startswith("postroom.")]


def _indexes(table: str) -> dict[str, list[str]]:
    """Name -> columns of the table's indexes, unique constraints and primary key, except partial ones:
    a condition makes an index serve only the queries that imply it."""
    partial = {
        declared.name
        for model in _ours()
        for declared in [*model._meta.indexes, *model._meta.constraints]
        if getattr(declared, "condition", None) is not None
    } | RAW_SQL_PARTIAL_INDEXES
    with connection.cursor() as cursor:
        constraints = connection.introspection.get_constraints(cursor, table)
    return {
        name: c["columns"]
        for name, c in constraints.items()
        if (c["index"] or c["unique"] or c["primary_key"]) and name not in partial and c["columns"]
    }


def test_every_foreign_key_column_leads_an_index() -> None:
    unindexed = []
    for model in _ours():
        leading = {columns[0] for columns in _indexes(model._meta.db_table).values()}
        unindexed += [
            f"{model._meta.db_table}.{field.column}"
            for field in model._meta.concrete_fields
            if isinstance(field, models.ForeignKey) and field.column not in leading
        ]
    assert unindexed == []


def test_no_foreign_key_has_an_index_of_its_own_when_another_leads_with_it() -> None:
    repeated = []
    for model in _ours():
        keys = {f.column for f in model._meta.concrete_fields if isinstance(f, models.ForeignKey)}
        indexes = _indexes(model._meta.db_table)
        with connection.cursor() as cursor:
            kinds = connection.introspection.get_constraints(cursor, model._meta.db_table)
        repeated += [
            name
            for name, columns in indexes.items()
            if columns[:1] == columns
            and columns[0] in keys
            and not (kinds[name]["unique"] or kinds[name]["primary_key"])  # Django makes a plain one
            and any(o != name and cols[0] == columns[0] for o, cols in indexes.items())
        ]
    assert repeated == []
