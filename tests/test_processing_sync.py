"""Conversion of mail that really came through the sync engine from Dovecot: one record per thread
under replies, moves between synced folders, a UIDVALIDITY re-sync and a copy in a second mailbox;
nothing from Sent/Trash/Junk or from before processing was enabled.

The sync engine records the processing jobs inside its batch transaction
(`intake.record_new_placements`); these tests rely on that call, then run the due jobs as a worker would."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.utils import timezone

from postroom.crm.models import Lead
from postroom.mailboxes.models import Mailbox
from postroom.processing.models import Conversion, InboundJob
from postroom.processing.runner import run_due_jobs
from postroom.sync.engine import sync_mailbox
from tests.conftest import Cast
from tests.factories import make_lead_source
from tests.mailbuilder import build, reply_to
from tests.servers.dovecot import Credentials, Dovecot
from tests.sync_helpers import append, folder, imap_mailbox, tick

pytest_plugins = ["tests.servers.fixtures"]


def lead_imap_mailbox(cast: Cast, server: Dovecot, user: Credentials, label: str, *folders: str) -> Mailbox:
    mailbox = imap_mailbox(
        cast.acme,
        server,
        user,
        label,
        process_type="lead",
        owner=cast.member,
        lead_source=make_lead_source(cast.acme, f"Source {label}"),
        processing_enabled_at=timezone.now() - timedelta(minutes=5),
    )
    tick(mailbox, *folders)
    return mailbox


def sync_and_process(mailbox: Mailbox) -> None:
    report = sync_mailbox(mailbox)
    assert report.status == "ok", report
    run_due_jobs()


def test_thread_synced_from_dovecot_gives_one_lead_under_replies_moves_and_resync(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    with dovecot.imap(imap_user.username) as admin:
        admin.create_folder("Customers")
    first = build(subject="Order 66 chairs", sender="Ann Lee <ann@example.org>")
    uids = append(dovecot, imap_user, "INBOX", [first])
    mailbox = lead_imap_mailbox(cast, dovecot, imap_user, "Sales", "INBOX", "Customers")
    sync_and_process(mailbox)
    lead = Lead.objects.get()
    assert (lead.name, lead.email) == ("Order 66 chairs", "ann@example.org")

    append(dovecot, imap_user, "INBOX", [reply_to(first, sender="Ann Lee <ann@example.org>")])
    with dovecot.imap(imap_user.username) as admin:
        admin.select_folder("INBOX")
        admin.move([uids[0]], "Customers")
    sync_and_process(mailbox)
    validity = folder(mailbox, "INBOX").uidvalidity
    assert validity is not None
    dovecot.doveadm(
        "mailbox", "update", "-u", imap_user.username, "--uid-validity", str(validity + 9), "INBOX"
    )
    sync_and_process(mailbox)

    assert Lead.objects.get() == lead
    assert InboundJob.objects.filter(mailbox=mailbox).count() == 2  # the parent once, the reply once
    reply_job = InboundJob.objects.exclude(message=lead.message).get()
    assert (reply_job.conversion, reply_job.lead) == (Conversion.JOINED, lead)


def test_same_message_in_a_second_mailbox_joins_the_first_mailboxs_lead(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    other_user = dovecot.add_user(f"info-{imap_user.username}", "pw-Other-77!")
    raw = build(subject="Both of you")
    append(dovecot, imap_user, "INBOX", [raw])
    append(dovecot, other_user, "INBOX", [raw])
    sales = lead_imap_mailbox(cast, dovecot, imap_user, "Sales", "INBOX")
    info = lead_imap_mailbox(cast, dovecot, other_user, "Info", "INBOX")
    sync_and_process(sales)
    sync_and_process(info)

    lead = Lead.objects.get()
    assert lead.mailbox == sales
    assert InboundJob.objects.get(mailbox=info).conversion == Conversion.JOINED


def test_sent_trash_junk_and_mail_from_before_enabling_never_convert(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    append(dovecot, imap_user, "Sent", [build(subject="Our offer")])
    append(dovecot, imap_user, "Trash", [build(subject="Deleted")])
    append(dovecot, imap_user, "Junk", [build(subject="Win a prize")])
    append(dovecot, imap_user, "INBOX", [build(subject="Old")], when=datetime(2025, 5, 1, tzinfo=UTC))
    mailbox = lead_imap_mailbox(cast, dovecot, imap_user, "Sales", "INBOX", "Sent", "Trash", "Junk")
    sync_and_process(mailbox)

    assert InboundJob.objects.filter(mailbox=mailbox, conversion=Conversion.SKIPPED).count() == 4
    assert not Lead.objects.exists()
    skipped = {job.message.subject: job.skips["conversion"] for job in InboundJob.objects.all()}
    assert skipped["Old"] == "received before processing was enabled"
    assert (
        "'sent'" in skipped["Our offer"]
        and "'trash'" in skipped["Deleted"]
        and "'spam'" in skipped["Win a prize"]
    )
