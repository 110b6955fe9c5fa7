"""Operations the migrations share."""

from __future__ import annotations

from typing import Any

from django.db import migrations, models


def drop_covered_index(
    table: str, index: str, model_name: str, field_name: str, **foreign_key: Any
) -> migrations.SeparateDatabaseAndState:
    """Give up index `index`, which Django made for the foreign key `field_name` (declared from now on as
    `ForeignKey(db_index=False, **foreign_key)`), because its column already leads another index of
    `table`: every stored row paid for both.

    `AlterField` would do the same, but on SQLite by copying the whole table, which at millions of
    messages makes an upgrade take minutes; dropping the index is what it amounts to on both databases."""
    field = models.ForeignKey(db_index=False, **foreign_key)
    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AlterField(model_name=model_name, name=field_name, field=field)],
        database_operations=[
            migrations.RunSQL(
                f'DROP INDEX IF EXISTS "{index}"',
                reverse_sql=f'CREATE INDEX IF NOT EXISTS "{index}" ON "{table}" ("{field_name}_id")',
            )
        ],
    )
