"""PostgreSQL: compress raw mail and bodies with lz4 rather than pglz.

Raw messages are most of what sync writes; pglz on 50 KB of base64 costs more CPU than the rest of the
insert. lz4 (PostgreSQL 14+, when built with it) is several times faster. Other databases: nothing to do.
"""

from django.db import migrations

COLUMNS = [("mail_messageraw", "data"), ("mail_messagebody", "text"), ("mail_messagebody", "html")]


def use_lz4(apps, schema_editor):
    connection = schema_editor.connection
    if connection.vendor != "postgresql" or connection.pg_version < 140000:
        return
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 1 FROM pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)"
        )
        if cursor.fetchone() is None:
            return
        for table, column in COLUMNS:
            cursor.execute(f"ALTER TABLE {table} ALTER COLUMN {column} SET COMPRESSION lz4")


class Migration(migrations.Migration):
    dependencies = [("mail", "0001_initial")]

    operations = [migrations.RunPython(use_lz4, migrations.RunPython.noop, elidable=True)]
