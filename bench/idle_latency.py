"""IMAP IDLE latency benchmark (issue 8): how long from a message landing in the INBOX until Postroom
has stored it, converted its thread into a case and queued the auto-reply.

Usage (from the repository root; needs PostgreSQL and Redis on 127.0.0.1, and Debian's dovecot-imapd):

    .venv/bin/python -m bench.idle_latency [--count 200] [--workers 1] [--gap 0.5]

It starts a private Dovecot and an SMTP server (the test servers), a throwaway PostgreSQL database and a
private Redis queue, one mailbox with Convert To Case and an auto-response rule answering every message,
and real `postroom worker` processes with IDLE on (POSTROOM_IDLE, postroom/sync/idle.py). Once a worker
watches the INBOX, it APPENDs COUNT messages one at a time (each a new thread from a new sender, so each
deserves a case and a reply), waits until the previous one went all the way through, then pauses GAP
seconds (a first, warm-up message is not counted; its latency is printed). Latencies are measured from
just before the APPEND to the moments the database recorded: the message stored (Message.created_at),
the case's thread claimed (ThreadRecord.created_at), the reply queued (OutgoingMessage.created_at) and
sent to the SMTP server (sent_at). It prints p50, p90, p99 and
max of each. Target: reply queued within 2 s at p99.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from bench import _stack
from tests.servers.dovecot import Credentials, Dovecot
from tests.servers.smtp import SmtpServer

STAGES = ("stored", "converted", "reply queued", "reply sent")
WAIT_SECONDS = 60  # per message, before it counts as lost
POLL_SECONDS = 0.01


@dataclass
class Options:
    count: int
    workers: int
    gap: float
    postgres: str
    redis: str


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=200, help="messages (default 200)")
    parser.add_argument("--workers", type=int, default=1, help="worker processes (default 1)")
    parser.add_argument("--gap", type=float, default=0.5, help="seconds between messages (default 0.5)")
    _stack.add_server_options(parser)
    args = parser.parse_args()
    options = Options(args.count, args.workers, args.gap, args.postgres, args.redis)
    print(
        f"idle_latency: {options.count} messages through IDLE, {options.workers} worker(s); expect roughly "
        f"{(20 + options.count * (options.gap + 1.5)) / 60:.0f} min of wall time",
        flush=True,
    )
    with _stack.scratch_run("postroom-bench-latency-") as work:
        latencies, lost = run(options, work)
        report(latencies, lost, options.count)
    return 0 if not lost else 1


def run(options: Options, work: Path) -> tuple[dict[str, list[float]], int]:
    from tests.servers.smtp import SMTP_USER

    with _stack.production_stack(work, options.postgres, options.redis, "bench_latency", idle=True) as stack:
        logging.getLogger("mail.log").setLevel(logging.ERROR)  # the SMTP server's chatter
        smtp = SmtpServer(stack.certs)
        smtp.start()
        try:
            user = stack.dovecot.add_user(SMTP_USER.username, SMTP_USER.password)
            mailbox_id = make_mailbox(stack.dovecot, user, smtp)
            workers = _stack.Workers(options.workers, stack.env, stack.logs, threads=2)
            workers.start()
            try:
                workers.wait_started()
                wait_until_watched(mailbox_id)
                return measure(stack.dovecot, user, mailbox_id, options)
            finally:
                workers.stop()
        finally:
            smtp.stop()


def make_mailbox(dovecot: Dovecot, user: Credentials, smtp: SmtpServer) -> int:
    """A mailbox on Dovecot (INBOX ticked) sending through the SMTP server, Convert To Case, one rule
    that answers everything."""
    from tests.autoresponse_helpers import make_rule
    from tests.factories import make_org, make_user
    from tests.processing_helpers import ENABLED_AT, folder_of
    from tests.sync_helpers import imap_mailbox

    org = make_org("latency")
    owner = make_user("owner@latency.example", org, admin=True)
    mailbox = imap_mailbox(
        org,
        dovecot,
        user,
        email=user.username,
        smtp_enabled=True,
        smtp_host=smtp.host,
        smtp_port=smtp.port,
        smtp_encryption="starttls",
        process_type="case",
        owner=owner,
        processing_enabled_at=ENABLED_AT,
    )
    folder_of(mailbox)
    make_rule(mailbox)
    return mailbox.pk


def wait_until_watched(mailbox_id: int, timeout: float = 120) -> None:
    """Until a worker holds the IDLE watch and its first sync finished (the watcher then sits in IDLE)."""
    from postroom.sync.models import MailboxSyncState

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        state = MailboxSyncState.objects.filter(mailbox_id=mailbox_id).first()
        if state and state.idle_owner and state.last_sync_finished_at:
            time.sleep(1)  # the watcher reconnects and enters IDLE after its sync
            return
        time.sleep(0.1)
    raise SystemExit("no worker took the IDLE watch of the mailbox")


def measure(
    dovecot: Dovecot, user: Credentials, mailbox_id: int, options: Options
) -> tuple[dict[str, list[float]], int]:
    from tests.mailbuilder import build

    latencies: dict[str, list[float]] = {stage: [] for stage in STAGES}
    lost = 0
    with dovecot.imap(user.username) as client:
        # Message 0 is a warm-up, not counted: right after a worker starts, its watcher may still be
        # waiting for the mailbox's next poll instead of sitting in IDLE (printed, so it stays visible).
        for index in range(options.count + 1):
            message_id = f"latency-{index}-{time.time_ns()}@bench.example"
            raw = build(
                subject=f"Latency probe {index}",
                sender=f"Customer {index} <customer{index}@latency.example>",
                to=user.username,
                message_id=f"<{message_id}>",
            )
            appended = datetime.now(tz=UTC)
            client.append("INBOX", raw)
            moments = wait_for_stages(mailbox_id, message_id)
            if len(moments) < len(STAGES) and index:
                lost += 1
                print(
                    f"message {index} did not go through within {WAIT_SECONDS} s: reached "
                    f"{list(moments) or 'nothing'}; {why_stuck(message_id)}",
                    flush=True,
                )
            if index == 0:
                print(f"warm-up message: {', '.join(_seconds(moments, appended))}", flush=True)
                continue
            for stage, moment in moments.items():
                latencies[stage].append((moment - appended).total_seconds())
            time.sleep(options.gap)
    return latencies, lost


def wait_for_stages(mailbox_id: int, message_id: str) -> dict[str, datetime]:
    """The moments the message reached each stage (stored, converted, reply queued, reply sent), waiting
    until all four did or WAIT_SECONDS passed."""
    deadline = time.monotonic() + WAIT_SECONDS
    reached = stages_reached(mailbox_id, message_id)
    while len(reached) < len(STAGES) and time.monotonic() < deadline:
        time.sleep(POLL_SECONDS)
        reached = stages_reached(mailbox_id, message_id)
    return reached


def stages_reached(mailbox_id: int, message_id: str) -> dict[str, datetime]:
    from postroom.crm.models import ThreadRecord
    from postroom.messages.models import Message
    from postroom.outbox.models import OutgoingMessage

    message = Message.objects.filter(message_id=message_id).first()
    if message is None:
        return {}
    reached = {"stored": message.created_at}
    record = ThreadRecord.objects.filter(thread_id=message.thread_id).first()
    if record is not None:
        reached["converted"] = record.created_at
    reply = OutgoingMessage.objects.filter(mailbox_id=mailbox_id, in_reply_to=message).first()
    if reply is not None:
        reached["reply queued"] = reply.created_at
        if reply.sent_at is not None:
            reached["reply sent"] = reply.sent_at
    return reached


def why_stuck(message_id: str) -> str:
    """What the message's processing job says (skips, errors), for a message that did not go through."""
    from postroom.processing.models import InboundJob

    job = InboundJob.objects.filter(message__message_id=message_id).first()
    if job is None:
        return "no processing job"
    return f"job {job.status}, skips {job.skips}, error {job.last_error or '-'}"


def _seconds(moments: dict[str, datetime], start: datetime) -> list[str]:
    return [f"{stage} after {(moment - start).total_seconds():.2f} s" for stage, moment in moments.items()]


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(values)
    rank = max(int(-(-fraction * len(ordered) // 1)), 1)
    return ordered[min(rank, len(ordered)) - 1]


def report(latencies: dict[str, list[float]], lost: int, count: int) -> None:
    print()
    print(f"IDLE latency from APPEND, seconds ({count - lost} of {count} messages went through)")
    print(f"{'stage':<14} {'p50':>6} {'p90':>6} {'p99':>6} {'max':>6}")
    for stage in STAGES:
        values = latencies[stage]
        if not values:
            continue
        print(
            f"{stage:<14} {percentile(values, 0.5):>6.2f} {percentile(values, 0.9):>6.2f} "
            f"{percentile(values, 0.99):>6.2f} {max(values):>6.2f}"
        )


if __name__ == "__main__":
    sys.exit(main())
