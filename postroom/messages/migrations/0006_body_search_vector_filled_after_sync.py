"""PostgreSQL: the body's search vector is filled after the sync's batch commits, not during its INSERT.

Computing to_tsvector over every body was half of PostgreSQL's CPU while syncing (bench.sync). The column
stays, with its GIN index and every vector already computed; it is no longer generated. New bodies arrive
with NULL and `postroom.messages.search_index` fills them in batches (a task queued after each sync batch,
and a sweep every minute). Search reads the text of the few bodies still NULL, found by the partial index
added here, so a message is findable from the moment it is stored. A trigger clears the vector when a
body's text changes (re-parsing), so the indexer computes it again. SQLite: nothing to do (FTS5 triggers).
"""

from django.db import migrations

from postroom.messages.search import BODY_VECTOR, SEARCH_COLUMN

POSTGRES_FORWARD = [
    f"ALTER TABLE mail_messagebody ALTER COLUMN {SEARCH_COLUMN} DROP EXPRESSION",
    f"CREATE INDEX IF NOT EXISTS mail_messagebody_unindexed ON mail_messagebody (message_id)"
    f" WHERE {SEARCH_COLUMN} IS NULL",
    f"""CREATE OR REPLACE FUNCTION mail_messagebody_unindex() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        NEW.{SEARCH_COLUMN} := NULL;
        RETURN NEW;
    END $$""",
    "CREATE TRIGGER mail_messagebody_unindex BEFORE UPDATE OF text ON mail_messagebody FOR EACH ROW"
    " WHEN (OLD.text IS DISTINCT FROM NEW.text) EXECUTE FUNCTION mail_messagebody_unindex()",
]
POSTGRES_BACKWARD = [
    "DROP TRIGGER IF EXISTS mail_messagebody_unindex ON mail_messagebody",
    "DROP FUNCTION IF EXISTS mail_messagebody_unindex()",
    "DROP INDEX IF EXISTS mail_messagebody_unindexed",
    "DROP INDEX IF EXISTS mail_messagebody_search",
    f"ALTER TABLE mail_messagebody DROP COLUMN {SEARCH_COLUMN}",
    f"ALTER TABLE mail_messagebody ADD COLUMN {SEARCH_COLUMN} tsvector GENERATED ALWAYS AS ({BODY_VECTOR}) STORED",
    f"CREATE INDEX mail_messagebody_search ON mail_messagebody USING gin ({SEARCH_COLUMN})",
]


def _run(statements):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor != "postgresql":
            return
        with schema_editor.connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("mail", "0005_search_results_by_message_date")]

    operations = [migrations.RunPython(_run(POSTGRES_FORWARD), _run(POSTGRES_BACKWARD))]
