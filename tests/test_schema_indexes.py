"""Indexes: every foreign key column can be looked up by an index (deleting a mailbox or an organization
finds its rows that way), and on the tables every stored message writes to, no index merely repeats the
leading column of another one (each costs a write per message). See postroom.schema.drop_covered_index."""

from __future__ import annotations

import pytest
from django.apps import apps
from django.db import connection, models

pytestmark = pytest.mark.django_db

PER_MESSAGE_TABLES = ("mail_message", "sync_placement", "processing_inboundjob")


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
    }
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


@pytest.mark.parametrize("table", PER_MESSAGE_TABLES)
def test_no_single_column_index_repeats_the_lead_of_another(table: str) -> None:
    indexes = _indexes(table)
    repeated = [
        name
        for name, columns in indexes.items()
        if len(columns) == 1 and any(o != name and cols[0] == columns[0] for o, cols in indexes.items())
    ]
    assert repeated == []
