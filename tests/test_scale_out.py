"""Scale-out as operators run it (issue 8): PostgreSQL, a Redis queue, three `postroom worker` processes,
fifty mailboxes on the real Dovecot, mail delivered while they run, one worker killed with SIGKILL
mid-run. Afterwards every message is stored once, every thread converted once, and every eligible
auto-reply arrived once at the SMTP server.

The workers share the pytest database (committed data: `transaction=True`) and a private redis-server
started for the test. The kill leaves the dead worker's IDLE watches and claims behind: its sync leases
and its inbound-job and outbox claims are taken over as soon as a sweep sees the process is gone
(`postroom.operations.liveness`), and its IDLE watches at the survivors' next supervisor round (every 15 s),
while the survivors also poll every mailbox once a minute.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email import message_from_bytes
from pathlib import Path

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from django.conf import settings
from django.db import connection
from django.utils import timezone

from postroom.crm.models import Case
from postroom.mailboxes.models import Mailbox, ProcessType
from postroom.messages.models import Message
from postroom.operations.models import WorkerHeartbeat
from postroom.outbox.models import Kind, OutgoingMessage, Status
from postroom.sync.models import Folder, FolderKind, MailboxSyncState, Placement
from tests.autoresponse_helpers import make_rule, make_template
from tests.factories import make_mailbox, make_org, make_user
from tests.mailbuilder import build
from tests.servers.dovecot import Credentials, Dovecot
from tests.servers.ports import free_port
from tests.servers.smtp import HOST, SMTP_USER, Recorder, _QuietController

pytest_plugins = ["tests.servers.fixtures"]
pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]

MAILBOXES = 50
WORKERS = 3
SETTLE_SECONDS = 240  # two scheduler minutes after the kill, plus the IDLE claim expiry, with slack


@pytest.fixture(autouse=True)
def _postgresql_only() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("scale-out runs on PostgreSQL (the suite's second pass)")


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    """A private redis-server on loopback, gone after the test (nothing of it outlives the run)."""
    server = shutil.which("redis-server")
    if server is None:
        install = ["apt-get", "install", "-y", "--no-install-recommends", "redis-server"]
        subprocess.run(install, check=True, capture_output=True)  # noqa: S603
        server = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port(HOST)
    process = subprocess.Popen(  # noqa: S603
        [
            server,
            "--bind",
            HOST,
            "--port",
            str(port),
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for(lambda: _redis_answers(port), 10, "redis-server did not start")
        yield f"redis://{HOST}:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


def _redis_answers(port: int) -> bool:
    import redis

    try:
        return bool(redis.Redis(host=HOST, port=port, socket_timeout=1).ping())
    except redis.RedisError:
        return False


@dataclass
class AnyMailboxLogin(Recorder):
    """The recording SMTP server, accepting each mailbox's own login (every mailbox has its user)."""

    logins: dict[str, str] = field(default_factory=dict)

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, auth_data: object
    ) -> AuthResult:
        ok = isinstance(auth_data, LoginPassword) and (
            self.logins.get(auth_data.login.decode()) == auth_data.password.decode()
        )
        return AuthResult(success=ok, handled=False)


@pytest.fixture
def smtp(redis_url: str) -> Iterator[tuple[AnyMailboxLogin, int]]:
    handler = AnyMailboxLogin(SMTP_USER)
    port = free_port(HOST)
    controller = _QuietController(
        handler,
        hostname=HOST,
        port=port,
        authenticator=handler.authenticate,
        auth_required=True,
        auth_require_tls=False,
    )
    controller.start()
    yield handler, port
    controller.stop()


def _wait_for(condition: Callable[[], bool], seconds: float, failure: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, failure
        time.sleep(0.25)


def _database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def _worker_env(tmp_path: Path, redis: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("POSTROOM_")}
    env |= {
        "DATABASE_URL": _database_url(),
        "REDIS_URL": redis,
        "POSTROOM_QUEUE_NAME": f"scale-{uuid.uuid4().hex[:8]}",
        "POSTROOM_DATA_DIR": str(tmp_path / "data"),
        "POSTROOM_ENCRYPTION_KEYS": ",".join(settings.POSTROOM_ENCRYPTION_KEYS),
        "POSTROOM_LOG_FORMAT": "json",
    }
    return env


def _start_worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(  # noqa: S603 - our own console script
        [str(Path(sys.executable).parent / "postroom"), "worker", "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )


@dataclass
class Box:
    mailbox: Mailbox
    login: Credentials


def _mailboxes(dovecot: Dovecot, smtp_port: int, logins: dict[str, str]) -> list[Box]:
    org = make_org("scale")
    owner = make_user("owner@scale.example", org, admin=True)
    template = make_template(org, name="Thanks")
    enabled = timezone.now() - timedelta(seconds=5)  # INTERNALDATE has whole seconds
    run = uuid.uuid4().hex[:6]
    boxes = []
    for n in range(MAILBOXES):
        login = dovecot.add_user(f"scale{n}-{run}@example.test", f"pw-{n}-{run}-Zk!")
        logins[login.username] = login.password
        mailbox = make_mailbox(
            org,
            f"Box {n}",
            email=f"box{n}@scale.example",
            imap_host=dovecot.host,
            imap_port=dovecot.imap_port,
            imap_encryption="none",
            smtp_enabled=True,
            smtp_host=HOST,
            smtp_port=smtp_port,
            smtp_encryption="none",
            username=login.username,
            password=login.password,
            process_type=ProcessType.CASE,
            owner=owner,
            processing_enabled_at=enabled,
        )
        Folder.objects.create(
            organization=org, mailbox=mailbox, name="INBOX", display_name="INBOX", kind=FolderKind.INBOX,
            selected=True,
        )  # fmt: skip
        make_rule(mailbox, template=template, activated_at=enabled)
        boxes.append(Box(mailbox, login))
    return boxes


def _deliver(dovecot: Dovecot, boxes: list[Box], mails: Callable[[int, Box], list[bytes]]) -> int:
    delivered = 0
    for n, box in enumerate(boxes):
        with dovecot.imap(box.login.username) as client:
            for raw in mails(n, box):
                client.append("INBOX", raw)
                delivered += 1
    return delivered


def _new_thread(box: Box, sender: str, tag: str) -> bytes:
    return build(
        subject=f"Question from {sender}",
        sender=sender,
        to=box.mailbox.email,
        message_id=f"{tag}-{box.mailbox.pk}@customers.example",
    )


def _first_round(n: int, box: Box) -> list[bytes]:
    """A new thread."""
    return [_new_thread(box, f"a{n}@customers.example", "first")]


def _second_round(n: int, box: Box) -> list[bytes]:
    """A reply to the first thread (same sender: joins its case, is not answered again) and a new thread."""
    parent = f"first-{box.mailbox.pk}@customers.example"
    reply = build(
        subject="Re: more",
        sender=f"a{n}@customers.example",
        to=box.mailbox.email,
        in_reply_to=parent,
        references=[parent],
    )
    return [reply, _new_thread(box, f"b{n}@customers.example", "second")]


def _third_round(n: int, box: Box) -> list[bytes]:
    """A new thread after the kill, for the surviving workers alone."""
    return [_new_thread(box, f"c{n}@customers.example", "third")]


def _busiest_worker(workers: list[subprocess.Popen[bytes]]) -> subprocess.Popen[bytes]:
    """The worker holding the most IDLE watches and sync leases: killing it hurts the most."""
    owners = Counter(
        owner.split(":")[1]
        for pair in MailboxSyncState.objects.values_list("idle_owner", "lease_owner")
        for owner in pair
        if owner
    )
    return max(workers, key=lambda worker: owners[str(worker.pid)])


def _settled(expected_messages: int, expected_replies: int, smtp: AnyMailboxLogin) -> bool:
    return (
        Placement.objects.count() >= expected_messages
        and OutgoingMessage.objects.filter(status=Status.SENT).count() >= expected_replies
        and len(smtp.messages) >= expected_replies
    )


def test_three_workers_one_killed_store_convert_and_answer_everything_exactly_once(
    tmp_path: Path, dovecot: Dovecot, redis_url: str, smtp: tuple[AnyMailboxLogin, int]
) -> None:
    recorder, smtp_port = smtp
    boxes = _mailboxes(dovecot, smtp_port, recorder.logins)
    env = _worker_env(tmp_path, redis_url)
    workers = [_start_worker(env, tmp_path / f"worker{n}.log") for n in range(WORKERS)]
    try:
        _wait_for(lambda: WorkerHeartbeat.objects.count() == WORKERS, 60, "the workers did not start")
        delivered = _deliver(dovecot, boxes, _first_round)
        _wait_for(lambda: Case.objects.count() >= MAILBOXES // 3, 60, "no conversions before the kill")
        delivered += _deliver(dovecot, boxes, _second_round)
        victim = _busiest_worker(workers)  # mid-run: syncing, converting and answering round two
        victim.send_signal(signal.SIGKILL)
        victim.wait()
        killed_at = time.monotonic()
        delivered += _deliver(dovecot, boxes, _third_round)
        threads = 3 * MAILBOXES
        _wait_for(
            lambda: _settled(delivered, threads, recorder), SETTLE_SECONDS, "work was lost after the kill"
        )
        time.sleep(2)  # anything duplicated would show up now
        recovered_in = time.monotonic() - killed_at
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.send_signal(signal.SIGKILL)
                worker.wait()

    # Every message stored once, in one place (besides them: the sent auto-replies, filed in their threads).
    inbound = Message.objects.filter(placements__isnull=False)
    assert Placement.objects.count() == delivered == 4 * MAILBOXES
    assert inbound.count() == inbound.values("message_id").distinct().count() == delivered

    # Every thread converted once; the replies joined their thread's case.
    assert Case.objects.count() == threads
    assert Case.objects.values("thread").distinct().count() == threads
    replies = Message.objects.filter(subject="Re: more")
    assert replies.count() == MAILBOXES
    for reply in replies:
        assert Message.objects.get(message_id=reply.in_reply_to).thread_id == reply.thread_id

    # Every eligible auto-reply sent once, as seen by the SMTP server. The one duplicate the outbox
    # allows (a kill between the server's 250 and our commit, a few milliseconds) keeps the Message-ID.
    answers = OutgoingMessage.objects.filter(kind=Kind.AUTO_REPLY)
    assert answers.count() == threads and answers.filter(status=Status.SENT).count() == threads
    received_ids = [message_from_bytes(m.data)["Message-ID"] for m in recorder.messages]
    assert len(set(received_ids)) == threads
    assert len(received_ids) - threads <= 1, Counter(received_ids).most_common(3)
    recipients = Counter(rcpt for m in recorder.messages for rcpt in m.rcpt_tos)
    assert set(recipients) == {f"{p}{n}@customers.example" for p in "abc" for n in range(MAILBOXES)}

    # The survivors' logs are JSON lines naming the organization and mailbox of the work they did.
    lines = [
        json.loads(line)
        for worker in workers
        if worker is not victim
        for line in (tmp_path / f"worker{workers.index(worker)}.log").read_text().splitlines()
    ]
    synced = {line["mailbox"] for line in lines if line["message"].startswith("sync ok")}
    assert synced and all(line["organization"] == "scale" for line in lines if line["mailbox"])
    print(f"recovered {recovered_in:.0f} s after the kill")  # noqa: T201 - shown with -s
