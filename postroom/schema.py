"""Operations the migrations share."""

from __future__ import annotations

from django.db import migrations, models


def drop_covered_index(
    model_name: str, field_name: str, field: models.Field[object, object], table: str, index: str
) -> migrations.SeparateDatabaseAndState:
    """Give up the index Django made for foreign key `field_name` (now declared with db_index=False), whose
    column already leads another index of the table: every stored row paid for both.

    `AlterField` would do the same, but on SQLite by copying the whole table, which at millions of
    messages makes an upgrade take minutes; dropping the index is what it amounts to on both databases."""
    column = field.db_column or f"{field_name}_id"
    return migrations.SeparateDatabaseAndState(
        state_operations=[migrations.AlterField(model_name=model_name, name=field_name, field=field)],
        database_operations=[
            migrations.RunSQL(
                f'DROP INDEX IF EXISTS "{index}"',
                reverse_sql=f'CREATE INDEX IF NOT EXISTS "{index}" ON "{table}" ("{column}")',
            )
        ],
    )
