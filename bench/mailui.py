"""Benchmark: the mail reading pages with a large store, through the Django test client.

    POSTROOM_DATA_DIR=$(mktemp -d) .venv/bin/python -m bench.mailui [--messages 1000000] [--repeat 15]

Seeds a fresh database (SQLite under POSTROOM_DATA_DIR by default; DATABASE_URL for PostgreSQL) with
`messages` messages in bulk INSERTs — not the sync path: threads of 1-5 messages over a year, a short
text body each (kept in the search index by its triggers or GIN indexes), 5% with an attachment row,
90% in a mailbox the benchmark's member may read and 10% in one they may not. Then it times, as that
member, median milliseconds per page over `repeat` requests of:
  baseline      the organization's home page (same session, middleware and templates; no mail queries)
  mailboxes     the mailbox list with unread counts
  first page    a mailbox's newest 50 conversations
  deep page     50 conversations about 60% down the mailbox (keyset cursor, no OFFSET)
  thread        one conversation with its messages
  search rare   a word in a handful of messages
  search common a word in every tenth message
and each page's ratio to the baseline. Run again on the same database (same POSTROOM_DATA_DIR or
DATABASE_URL) to measure without seeding again.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import django

BATCH = 5_000
WORDS = (
    "order invoice delivery printer account password refund contract meeting report shipment "
    "question update urgent payment warranty license renewal quote offer schedule"
).split()
START = datetime(2025, 1, 1, tzinfo=UTC)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postroom.settings")
    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    world = seeded()
    if world is None:
        started = time.perf_counter()
        world = seed(args.messages)
        print(f"seeded {args.messages:,} messages in {time.perf_counter() - started:.0f} s", flush=True)
    report(measure(world, args.repeat))


def seeded() -> dict[str, Any] | None:
    """The world of an earlier run on this database (seeding a million messages takes minutes), if any."""
    from postroom.accounts.models import User
    from postroom.mailboxes.models import Mailbox
    from postroom.messages.models import Message
    from postroom.organizations.models import Organization

    org = Organization.objects.filter(slug="bench").first()
    if org is None:
        return None
    stored = Message.objects.filter(organization=org).count()
    print(f"reusing the {stored:,} messages seeded by an earlier run in this database", flush=True)
    member = User.objects.get(email="agent@bench.example")
    return {"org": org, "member": member, "mailbox": Mailbox.objects.get(organization=org, label="Support")}


def seed(count: int) -> dict[str, Any]:
    """The organization, its member, two mailboxes and `count` messages; returns what the pages need."""
    from postroom.accounts.models import User
    from postroom.mailboxes.models import Mailbox
    from postroom.organizations.models import Membership, Organization, Role
    from postroom.sync.models import Folder

    org = Organization.objects.create(slug="bench", name="Bench")
    role = Role.objects.create(organization=org, name="Support")
    member = User.objects.create_user("agent@bench.example", "not-used-bench-pw")
    Membership.objects.create(user=member, organization=org).roles.set([role])
    readable = Mailbox.objects.create(organization=org, label="Support", email="support@bench.example")
    readable.access_roles.set([role])
    hidden = Mailbox.objects.create(organization=org, label="Board", email="board@bench.example")
    folders = [
        Folder.objects.create(
            organization=org, mailbox=box, name="INBOX", display_name="Inbox", kind="inbox", selected=True
        )
        for box in (readable, hidden)
    ]
    seeder = Seeder(org.pk, folders[0], folders[1])
    for chunk in _thread_chunks(count, seeder.rng):
        seeder.insert(chunk)
    seeder.finish()
    return {"org": org, "member": member, "mailbox": readable}


def _thread_chunks(count: int, rng: random.Random) -> Iterator[list[list[datetime]]]:
    """Threads as lists of message dates, BATCH messages' worth at a time, oldest threads first."""
    seconds = 365 * 24 * 3600
    made = 0
    chunk: list[list[datetime]] = []
    in_chunk = 0
    while made < count:
        size = min(rng.randint(1, 5), count - made)
        first = START + timedelta(seconds=seconds * made / count)
        chunk.append([first + timedelta(hours=3 * i) for i in range(size)])
        made += size
        in_chunk += size
        if in_chunk >= BATCH:
            yield chunk
            chunk, in_chunk = [], 0
    if chunk:
        yield chunk


class Seeder:
    """Writes rows with plain INSERT ... executemany and ids of its own (the database is fresh), so a
    million messages take minutes; the ORM's per-object work would take most of an hour."""

    def __init__(self, org_id: int, readable_folder: Any, hidden_folder: Any) -> None:
        self.org_id = org_id
        self.folders = (readable_folder, hidden_folder)
        self.rng = random.Random(11)  # noqa: S311 - reproducible test data, not secrets
        self.thread_id = 0
        self.message_id = 0

    def insert(self, threads: list[list[datetime]]) -> None:
        from django.db import transaction

        from postroom.messages.models import Attachment, Message, MessageBody, Thread
        from postroom.sync.models import Placement

        thread_rows, message_rows, body_rows, attachment_rows, placement_rows = [], [], [], [], []
        for dates in threads:
            self.thread_id += 1
            topic = self.rng.choice(WORDS)
            thread_rows.append(
                {
                    "id": self.thread_id,
                    "organization_id": self.org_id,
                    "subject": f"{topic.title()} {self.thread_id}",
                    "created_at": _when(dates[0]),
                    "last_message_at": _when(dates[-1]),
                    "message_count": len(dates),
                }
            )
            folder = self.folders[1] if self.thread_id % 10 == 0 else self.folders[0]
            for index, date in enumerate(dates):
                message = self._message(topic, index, date)
                message_rows.append(message)
                body_rows.append(
                    {
                        "message_id": message["id"],
                        "organization_id": self.org_id,
                        "text": message.pop("_text"),
                    }
                )
                if message["has_attachments"]:
                    attachment_rows.append(self._attachment(message["id"]))
                placement_rows.append(
                    {
                        "organization_id": self.org_id,
                        "mailbox_id": folder.mailbox_id,
                        "folder_id": folder.pk,
                        "uid": message["id"],
                        "message_id": message["id"],
                        "seen": True,
                    }
                )
        with transaction.atomic():
            for model, rows in (
                (Thread, thread_rows),
                (Message, message_rows),
                (MessageBody, body_rows),
                (Attachment, attachment_rows),
                (Placement, placement_rows),
            ):
                _insert_rows(model, rows)

    def _message(self, topic: str, index: int, date: datetime) -> dict[str, Any]:
        self.message_id += 1
        number = self.rng.randrange(10_000_000)
        text = f"Hello, about the {topic} {number}: " + " ".join(self.rng.choices(WORDS, k=40))
        if number % 10 == 0:
            text += " tenthword"
        if number % 200_000 == 0:
            text += " zanzibarite"
        sender = self.rng.randrange(5000)
        return {
            "id": self.message_id,
            "organization_id": self.org_id,
            "message_id": f"bench-{self.message_id}@bench.example",
            "content_hash": str(self.message_id),
            "raw_sha256": "0" * 64,
            "size": 2000,
            "subject": ("Re: " if index else "") + f"{topic.title()} {self.thread_id}",
            "from_name": f"Customer {sender}",
            "from_address": f"customer{sender}@example.org",
            "date": _when(date),
            "has_attachments": number % 20 == 0,
            "snippet": text[:200],
            "thread_id": self.thread_id,
            "created_at": _when(date),
            "_text": text,
        }

    def _attachment(self, message_id: int) -> dict[str, Any]:
        return {
            "organization_id": self.org_id,
            "message_id": message_id,
            "filename": "report.pdf",
            "content_type": "application/pdf",
            "size": 40_000,
            "disposition": "attachment",
            "part_path": "2",
        }

    def finish(self) -> None:
        """Move PostgreSQL's id sequences past the ids written here, and give the planner statistics
        (autovacuum would, minutes later; a plan made without them can be a thousand times slower)."""
        from django.db import connection

        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                for table in ("mail_thread", "mail_message"):
                    sequence = f"pg_get_serial_sequence('{table}', 'id')"
                    cursor.execute(f"SELECT setval({sequence}, (SELECT max(id) FROM {table}))")  # noqa: S608
            cursor.execute("ANALYZE")


def _when(moment: datetime) -> Any:
    from django.db import connection

    return connection.ops.adapt_datetimefield_value(moment)


def _insert_rows(model: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT `rows` (attribute name -> database-ready value); every other column gets its default."""
    from django.db import connection

    if not rows:
        return
    given = list(rows[0])
    defaults = {
        field.column: field.get_db_prep_save(field.get_default(), connection)
        for field in model._meta.concrete_fields
        if field.attname not in given and not field.primary_key
    }
    columns = [_column(model, name) for name in given]
    columns += list(defaults)
    quoted = ", ".join(connection.ops.quote_name(column) for column in columns)
    placeholders = ", ".join(["%s"] * len(columns))
    constant = tuple(defaults.values())
    with connection.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO {model._meta.db_table} ({quoted}) VALUES ({placeholders})",  # noqa: S608 - our names
            [tuple(row[name] for name in given) + constant for row in rows],
        )


def _column(model: Any, attname: str) -> str:
    for field in model._meta.concrete_fields:
        if field.attname == attname:
            return str(field.column)
    raise KeyError(attname)


def measure(world: dict[str, Any], repeat: int) -> dict[str, list[float]]:
    from django.test import Client
    from django.urls import reverse

    from postroom.messages.reading import Cursor, threads_in

    client = Client(HTTP_HOST="localhost")
    client.force_login(world["member"])
    slug, mailbox = world["org"].slug, world["mailbox"]
    threads = threads_in(mailbox).order_by("-last_message_at", "-pk")
    total = threads.count()  # setup only, not timed
    deep = threads[int(total * 0.6)]
    newest = threads.first()
    assert newest is not None
    pages: dict[str, str] = {
        "baseline": reverse("org-home", args=[slug]),
        "mailboxes": reverse("mail", args=[slug]),
        "first page": reverse("mail-mailbox", args=[slug, mailbox.pk]),
        "deep page": reverse("mail-mailbox", args=[slug, mailbox.pk]) + f"?after={Cursor.of(deep).encode()}",
        "thread": reverse("mail-thread", args=[slug, newest.pk]),
        "search rare": reverse("mail-search", args=[slug]) + "?q=zanzibarite",
        "search common": reverse("mail-search", args=[slug]) + "?q=tenthword",
    }
    print(
        f"{total:,} conversations in the member's mailbox; deep page starts at #{int(total * 0.6):,}",
        flush=True,
    )
    return {name: _timings(client, url, repeat) for name, url in pages.items()}


def _timings(client: Any, url: str, repeat: int) -> list[float]:
    """Milliseconds per GET of `url`, after one untimed request that warms caches and query plans."""
    times = []
    for attempt in range(repeat + 1):
        started = time.perf_counter()
        response = client.get(url)
        elapsed = (time.perf_counter() - started) * 1000
        if response.status_code != 200:
            raise SystemExit(f"{url}: HTTP {response.status_code}")
        if attempt:
            times.append(elapsed)
    return times


def report(timings: dict[str, list[float]]) -> None:
    baseline = statistics.median(timings["baseline"])
    print(f"{'page':<14} {'median ms':>10} {'max ms':>8} {'x baseline':>11}")
    for name, times in timings.items():
        median = statistics.median(times)
        print(f"{name:<14} {median:>10.1f} {max(times):>8.1f} {median / baseline:>11.1f}")


if __name__ == "__main__":
    main(sys.argv[1:])
