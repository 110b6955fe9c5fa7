"""Full-text search over stored mail (postroom.messages.search).

PostgreSQL: a stored generated tsvector column on the message (subject and sender) and on its body, each
with a GIN index; the expressions come from search.py. SQLite: FTS5 tables over the same
columns with the message tables as external content (the text is not stored twice), kept current by
triggers, so the code that stores mail needs to know nothing about search.
"""

from django.db import migrations

from postroom.messages.search import BODY_VECTOR, HEAD_VECTOR, SEARCH_COLUMN

# Stored generated columns: a window of candidates (postroom.messages.search) reads each row's vector
# instead of recomputing it from the text, and the GIN index's recheck does too.
POSTGRES_FORWARD = [
    f"ALTER TABLE mail_message ADD COLUMN IF NOT EXISTS {SEARCH_COLUMN} tsvector"
    f" GENERATED ALWAYS AS ({HEAD_VECTOR}) STORED",
    f"ALTER TABLE mail_messagebody ADD COLUMN IF NOT EXISTS {SEARCH_COLUMN} tsvector"
    f" GENERATED ALWAYS AS ({BODY_VECTOR}) STORED",
    f"CREATE INDEX IF NOT EXISTS mail_message_search ON mail_message USING gin ({SEARCH_COLUMN})",
    f"CREATE INDEX IF NOT EXISTS mail_messagebody_search ON mail_messagebody USING gin ({SEARCH_COLUMN})",
]
POSTGRES_BACKWARD = [
    "DROP INDEX IF EXISTS mail_message_search",
    "DROP INDEX IF EXISTS mail_messagebody_search",
    f"ALTER TABLE mail_message DROP COLUMN IF EXISTS {SEARCH_COLUMN}",
    f"ALTER TABLE mail_messagebody DROP COLUMN IF EXISTS {SEARCH_COLUMN}",
]

TOKENIZER = "unicode61 remove_diacritics 2"
SQLITE_FORWARD = [
    f"""CREATE VIRTUAL TABLE mail_search_head USING fts5(
        subject, from_name, from_address, content='mail_message', content_rowid='id', tokenize='{TOKENIZER}')""",
    """CREATE TRIGGER mail_search_head_insert AFTER INSERT ON mail_message BEGIN
        INSERT INTO mail_search_head(rowid, subject, from_name, from_address)
        VALUES (new.id, new.subject, new.from_name, new.from_address);
    END""",
    """CREATE TRIGGER mail_search_head_delete AFTER DELETE ON mail_message BEGIN
        INSERT INTO mail_search_head(mail_search_head, rowid, subject, from_name, from_address)
        VALUES ('delete', old.id, old.subject, old.from_name, old.from_address);
    END""",
    """CREATE TRIGGER mail_search_head_update AFTER UPDATE OF subject, from_name, from_address
    ON mail_message BEGIN
        INSERT INTO mail_search_head(mail_search_head, rowid, subject, from_name, from_address)
        VALUES ('delete', old.id, old.subject, old.from_name, old.from_address);
        INSERT INTO mail_search_head(rowid, subject, from_name, from_address)
        VALUES (new.id, new.subject, new.from_name, new.from_address);
    END""",
    f"""CREATE VIRTUAL TABLE mail_search_body USING fts5(
        text, content='mail_messagebody', content_rowid='message_id', tokenize='{TOKENIZER}')""",
    """CREATE TRIGGER mail_search_body_insert AFTER INSERT ON mail_messagebody BEGIN
        INSERT INTO mail_search_body(rowid, text) VALUES (new.message_id, new.text);
    END""",
    """CREATE TRIGGER mail_search_body_delete AFTER DELETE ON mail_messagebody BEGIN
        INSERT INTO mail_search_body(mail_search_body, rowid, text) VALUES ('delete', old.message_id, old.text);
    END""",
    """CREATE TRIGGER mail_search_body_update AFTER UPDATE OF text ON mail_messagebody BEGIN
        INSERT INTO mail_search_body(mail_search_body, rowid, text) VALUES ('delete', old.message_id, old.text);
        INSERT INTO mail_search_body(rowid, text) VALUES (new.message_id, new.text);
    END""",
    # Index the mail stored before this migration.
    "INSERT INTO mail_search_head(mail_search_head) VALUES ('rebuild')",
    "INSERT INTO mail_search_body(mail_search_body) VALUES ('rebuild')",
]
SQLITE_BACKWARD = [
    *(
        f"DROP TRIGGER IF EXISTS mail_search_{table}_{event}"
        for table in ("head", "body")
        for event in ("insert", "delete", "update")
    ),
    "DROP TABLE IF EXISTS mail_search_head",
    "DROP TABLE IF EXISTS mail_search_body",
]


def _run(statements_by_vendor):
    def run(apps, schema_editor):
        statements = statements_by_vendor.get(schema_editor.connection.vendor, [])
        with schema_editor.connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("mail", "0003_thread_reads_and_recent_index")]

    operations = [
        migrations.RunPython(
            _run({"postgresql": POSTGRES_FORWARD, "sqlite": SQLITE_FORWARD}),
            _run({"postgresql": POSTGRES_BACKWARD, "sqlite": SQLITE_BACKWARD}),
        )
    ]
