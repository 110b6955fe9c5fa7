"""Benchmark: parsing and storing realistic mail, against the stdlib compat32 parser as a baseline.

    POSTROOM_DATA_DIR=$(mktemp -d) .venv/bin/python -m bench.parse [--count 3000] [--batch 500]

Generates `count` messages (average ~50 KB: text and HTML bodies in several charsets, a share with
attachments, a share of replies so threads form), then reports messages/s for
  baseline  email.message_from_bytes(raw, policy=compat32) — structure only, nothing decoded
  parse     postroom.messages.parse.parse — headers decoded, bodies decoded, attachments described
  db only   postroom.messages.store.store_parsed: the database part alone, messages parsed beforehand
  store     postroom.messages.store.store_messages in batches (parse + database) into the configured
            database (SQLite under POSTROOM_DATA_DIR by default; DATABASE_URL for PostgreSQL), migrated first
as ratios to the baseline, and the peak RSS of the process.
"""

from __future__ import annotations

import argparse
import email
import os
import random
import resource
import sys
import time
from collections.abc import Callable, Sequence
from email.policy import compat32
from typing import TYPE_CHECKING

import django

if TYPE_CHECKING:
    from postroom.messages.parse import ParsedMessage

BODIES = [
    ("utf-8", "Grüße aus Köln, wo bleibt meine Bestellung? "),
    ("iso-8859-1", "Bonjour, voilà le résumé de la réunion d'hier. "),
    ("koi8-r", "Здравствуйте, где мой заказ номер сорок два? "),
    ("shift_jis", "ご注文ありがとうございます。発送は明日です。"),
    ("us-ascii", "Hello, please find the quarterly figures below. "),
]
ATTACHMENT_TYPES = [
    ("report.pdf", "application/pdf"),
    ("photo.jpg", "image/jpeg"),
    ("Résumé.docx", "application/msword"),
]


def generate(count: int, seed: int = 7) -> list[bytes]:
    """Realistic mail: 60% plain+HTML bodies of 3-12 KB, 40% with 1-2 attachments of 20-120 KB
    (base64 on the wire), 35% replies to an earlier message."""
    from tests.mailbuilder import build

    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    messages: list[bytes] = []
    ids: list[str] = []
    for n in range(count):
        charset, phrase = rng.choice(BODIES)
        text = phrase * rng.randint(60, 240)
        html = (
            "<html><body>"
            + "".join(f"<p>{phrase}</p>" for _ in range(rng.randint(20, 80)))
            + "</body></html>"
        )
        attachments = []
        if rng.random() < 0.4:
            for _ in range(rng.randint(1, 2)):
                name, content_type = rng.choice(ATTACHMENT_TYPES)
                attachments.append((name, content_type, rng.randbytes(rng.randint(15_000, 80_000))))
        message_id = f"<bench-{seed}-{n}@mail.example.org>"
        parent = rng.choice(ids) if ids and rng.random() < 0.35 else None
        raw = build(
            subject=f"Bestellung {n} — {phrase[:20]}",
            message_id=message_id,
            in_reply_to=parent,
            references=[parent] if parent else (),
            body=text,
            html=html,
            attachments=attachments,
            charset=charset,
        )
        messages.append(raw)
        ids.append(message_id)
    return messages


def rate(label: str, work: Callable[[], object], count: int) -> float:
    started = time.perf_counter()
    work()
    per_second = count / (time.perf_counter() - started)
    print(f"{label:<10} {per_second:10,.0f} msg/s", flush=True)
    return per_second


def store_all(messages: Sequence[bytes], batch: int, parsed: Sequence[ParsedMessage] | None = None) -> None:
    """store_messages in batches into a fresh organization; with `parsed`, only the database part."""
    from postroom.messages.store import store_messages, store_parsed
    from postroom.organizations.models import Organization

    org = Organization.objects.create(slug=f"bench-{os.getpid()}-{time.monotonic_ns()}", name="Bench")
    for start in range(0, len(messages), batch):
        chunk = messages[start : start + batch]
        if parsed is None:
            store_messages(org, chunk)
        else:
            store_parsed(org, chunk, parsed[start : start + batch])


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--count", type=int, default=3000)
    parser.add_argument("--batch", type=int, default=500)
    args = parser.parse_args(argv)

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "postroom.settings")
    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from postroom.messages.parse import parse

    call_command("migrate", verbosity=0)
    messages = generate(args.count)
    average = sum(map(len, messages)) / len(messages)
    print(f"{len(messages)} messages, average {average / 1024:.1f} KB, database {connection.vendor}")
    baseline = rate(
        "baseline", lambda: [email.message_from_bytes(m, policy=compat32) for m in messages], len(messages)
    )
    parsed_rate = rate("parse", lambda: [parse(m) for m in messages], len(messages))
    results = [parse(m) for m in messages]
    db_rate = rate("db only", lambda: store_all(messages, args.batch, results), len(messages))
    stored = rate("store", lambda: store_all(messages, args.batch), len(messages))
    print(
        f"ratios to baseline: parse {parsed_rate / baseline:.2f}x, db only {db_rate / baseline:.2f}x,"
        f" store (parse + db) {stored / baseline:.2f}x"
    )
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"peak RSS {peak / 1024:.0f} MB")


if __name__ == "__main__":
    sys.path.insert(0, os.getcwd())
    main()
