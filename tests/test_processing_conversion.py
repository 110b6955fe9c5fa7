"""Convert To Lead / Convert To Case (M5): which messages convert, what the records get, and that one
thread gives one record however often and wherever its messages arrive."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.db.models.signals import post_save
from hypothesis import given
from hypothesis import strategies as st

from postroom.crm import conversion
from postroom.crm.conversion import Arrival, plain_text_body
from postroom.crm.models import Case, Lead, RecordCounter, ThreadRecord
from postroom.messages.models import Message, MessageBody, Thread
from postroom.processing import batchcache
from postroom.processing.intake import record_new_placements
from postroom.processing.models import Conversion, InboundJob, JobStatus
from postroom.sync.models import Placement
from tests.conftest import Cast
from tests.factories import make_lead_source
from tests.mailbuilder import build, reply_to
from tests.processing_helpers import (
    BEFORE,
    arrive,
    case_mailbox,
    folder_of,
    job_of,
    lead_mailbox,
    process,
)


def test_new_thread_creates_one_lead_with_the_message_details(cast: Cast) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member)
    [message] = arrive(mailbox, [build(subject="Price list", sender="Ann Lee <ann.lee@example.org>")])

    assert process() == 1

    lead = Lead.objects.get()
    assert (lead.name, lead.first_name, lead.last_name, lead.email) == (
        "Price list",
        "Ann",
        "Lee",
        "ann.lee@example.org",
    )
    assert (lead.status, lead.owner, lead.source, lead.mailbox) == (
        "new",
        cast.member,
        mailbox.lead_source,
        mailbox,
    )
    assert (lead.message, lead.thread_id, lead.organization) == (message, message.thread_id, cast.acme)
    assert lead.notes == "Hello there."
    assert lead.reference == "LEAD-1"
    job = job_of(mailbox, message)
    assert (job.status, job.conversion, job.lead) == (JobStatus.DONE, Conversion.CREATED, lead)


def test_new_thread_creates_one_case_with_the_mailbox_settings(cast: Cast) -> None:
    mailbox = case_mailbox(cast.acme, cast.member, case_assignee=cast.configurer)
    [message] = arrive(mailbox, [build(subject="Printer on fire", body="It smokes.\n")])

    process()

    case = Case.objects.get()
    assert (case.subject, case.description, case.source) == ("Printer on fire", "It smokes.", "email")
    assert (case.owner, case.assignee, case.status, case.priority) == (
        cast.member,
        cast.configurer,
        "in_progress",
        "high",
    )
    assert (case.message, case.thread_id, case.reference) == (message, message.thread_id, "CASE-1")
    assert job_of(mailbox, message).case == case
    claim = ThreadRecord.objects.get()
    assert (case.record, claim.thread_id, claim.kind) == (claim, message.thread_id, "case")
    assert case.created_at is not None and claim.created_at is not None


def test_a_receiver_of_saves_still_hears_of_every_converted_record(cast: Cast) -> None:
    """Cases and thread claims are inserted without the ORM's save() while nothing listens; whatever
    starts listening (an audit tracker, say) is called as for Model.objects.create."""
    heard: list[tuple[str, bool]] = []

    def hear(sender: type, instance: Case | ThreadRecord, created: bool, **_: object) -> None:
        heard.append((type(instance).__name__, created))

    post_save.connect(hear, sender=Case, dispatch_uid="test-hear-cases")
    post_save.connect(hear, sender=ThreadRecord, dispatch_uid="test-hear-claims")
    try:
        mailbox = case_mailbox(cast.acme, cast.member)
        arrive(mailbox, [build(subject="Heard")])
        process()
    finally:
        post_save.disconnect(sender=Case, dispatch_uid="test-hear-cases")
        post_save.disconnect(sender=ThreadRecord, dispatch_uid="test-hear-claims")

    assert heard == [("ThreadRecord", True), ("Case", True)]
    assert Case.objects.get().subject == "Heard"


def test_replies_second_mailbox_copy_resync_and_move_create_no_second_record(cast: Cast) -> None:
    sales = lead_mailbox(cast.acme, cast.member)
    other = lead_mailbox(cast.acme, cast.member, label="Info")
    first = build(subject="Quote please")
    reply = reply_to(first)
    [original] = arrive(sales, [first])
    process()

    [answer] = arrive(sales, [reply])
    arrive(other, [first])  # the same message delivered to a second mailbox of the organization
    arrive(sales, [first])  # a re-sync stores the same message again (new UID, same identity)
    arrive(sales, [first], folder="Customers", kind="other")  # moved into a user folder
    process()

    lead = Lead.objects.get()
    assert lead.message == original
    assert job_of(sales, answer).conversion == Conversion.JOINED
    assert job_of(sales, answer).lead == lead
    assert job_of(other, original).conversion == Conversion.JOINED
    assert Placement.objects.filter(mailbox=sales, message=original).count() == 3
    assert ThreadRecord.objects.count() == 1


def test_reply_processed_before_its_parent_gives_one_record_for_the_whole_thread(cast: Cast) -> None:
    mailbox = case_mailbox(cast.acme, cast.member)
    parent = build(subject="Broken login")
    [early_reply] = arrive(mailbox, [reply_to(parent)])
    process()
    [late_parent] = arrive(mailbox, [parent])
    process()

    case = Case.objects.get()
    assert case.message == early_reply
    late_parent.refresh_from_db()
    assert late_parent.thread_id == case.thread_id
    assert job_of(mailbox, late_parent).conversion == Conversion.JOINED
    assert set(Thread.objects.get(pk=case.thread_id).messages.all()) == {early_reply, late_parent}


@pytest.mark.parametrize("kind", ["sent", "drafts", "trash", "spam", "archive"])
def test_mail_outside_incoming_folders_never_converts(cast: Cast, kind: str) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member)
    [message] = arrive(mailbox, [build()], folder=kind.title(), kind=kind)
    process()
    assert not Lead.objects.exists()
    job = job_of(mailbox, message)
    assert job.conversion == Conversion.SKIPPED
    assert kind in job.skips["conversion"]


def test_mail_received_before_processing_was_enabled_never_converts(cast: Cast) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member)
    [message] = arrive(mailbox, [build()], when=BEFORE)
    process()
    assert not Lead.objects.exists()
    assert job_of(mailbox, message).skips["conversion"] == "received before processing was enabled"


def test_reply_to_a_conversation_older_than_processing_never_converts(cast: Cast) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member)
    old = build(subject="Last year's order")
    arrive(mailbox, [old], when=BEFORE)
    [reply] = arrive(mailbox, [reply_to(old)])
    process()
    assert not Lead.objects.exists()
    assert "began before processing" in job_of(mailbox, reply).skips["conversion"]


def test_the_organizations_own_outgoing_mail_never_converts(cast: Cast) -> None:
    sales = lead_mailbox(cast.acme, cast.member)
    support = lead_mailbox(cast.acme, cast.member, label="Support")
    from_sales = build(sender=f"Sales <{sales.email.upper()}>")
    from_support = build(sender=f"Support <{support.email}>")
    arrive(sales, [from_sales, from_support])
    [answer] = arrive(sales, [reply_to(from_support, sender="Customer <c@example.org>")])
    process()
    assert not Lead.objects.exists()
    assert job_of(sales, answer).skips["conversion"] == "the conversation was started by the organization"


def test_do_nothing_mailbox_only_stores_and_records_no_job(cast: Cast) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member, process_type="none")
    arrive(mailbox, [build()])
    process()
    assert not Lead.objects.exists() and not Case.objects.exists()
    assert not InboundJob.objects.filter(mailbox=mailbox).exists()  # nothing could ever act on it


def test_long_subject_is_truncated_without_breaking_characters(cast: Cast) -> None:
    leads = lead_mailbox(cast.acme, cast.member)
    cases = case_mailbox(cast.acme, cast.member)
    subject = "é" * 253 + "e\u0301" + "x" * 1744  # 2,000 characters, a combining accent at the cut
    arrive(leads, [build(subject=subject)])
    arrive(cases, [build(subject=subject)])
    process()
    for text in (Lead.objects.get().name, Case.objects.get().subject):
        assert len(text) <= 255 and text.endswith("…")
        assert text == "é" * 253 + "…"


def test_empty_subject_becomes_no_subject(cast: Cast) -> None:
    arrive(lead_mailbox(cast.acme, cast.member), [build(subject=None)])
    arrive(case_mailbox(cast.acme, cast.member), [build(subject="   ")])
    process()
    assert Lead.objects.get().name == "(no subject)"
    assert Case.objects.get().subject == "(no subject)"


@pytest.mark.parametrize(
    ("sender", "first", "last"),
    [
        ("jane.o-neil+shop@example.org", "Jane", "O Neil"),
        ("bob@example.org", "Bob", ""),
        ('"Lee, Ann" <x@example.org>', "Ann", "Lee"),
        ("Cher <cher@example.org>", "Cher", ""),
    ],
)
def test_lead_names_come_from_display_name_or_address(cast: Cast, sender: str, first: str, last: str) -> None:
    arrive(lead_mailbox(cast.acme, cast.member), [build(sender=sender)])
    process()
    lead = Lead.objects.get()
    assert (lead.first_name, lead.last_name) == (first, last)


def test_non_utf8_body_becomes_readable_notes(cast: Cast) -> None:
    arrive(
        lead_mailbox(cast.acme, cast.member), [build(body="Grüße aus Köln, ½ Preis\n", charset="iso-8859-1")]
    )
    process()
    assert Lead.objects.get().notes == "Grüße aus Köln, ½ Preis"


def test_html_only_body_is_converted_to_text_notes(cast: Cast) -> None:
    html = (
        "<html><body><p>Hello <b>team</b>,</p><p>call me &amp; soon<br>Ann</p>"
        "<script>x()</script></body></html>"
    )
    raw = build(body="", html=html)
    arrive(lead_mailbox(cast.acme, cast.member), [raw])
    process()
    notes = Lead.objects.get().notes
    assert "Hello team ," in notes or "Hello team," in notes
    assert "call me & soon\nAnn" in notes
    assert "<" not in notes and "x()" not in notes


def test_numbers_are_per_organization_and_per_kind(cast: Cast) -> None:
    acme = lead_mailbox(cast.acme, cast.member)
    globex = lead_mailbox(cast.globex, cast.outsider)
    support = case_mailbox(cast.acme, cast.member)
    arrive(acme, [build(), build()])
    arrive(globex, [build()])
    arrive(support, [build()])
    process()
    assert sorted(Lead.objects.filter(organization=cast.acme).values_list("number", flat=True)) == [1, 2]
    assert Lead.objects.get(organization=cast.globex).reference == "LEAD-1"
    assert Case.objects.get().reference == "CASE-1"


def test_a_record_created_before_the_organization_has_counters_is_numbered_and_keeps_its_claim(
    cast: Cast,
) -> None:
    """Outside a processing batch nothing created the counters first: the claim is made, the number comes
    after the counter is created, and no claim is left without its record."""
    mailbox = case_mailbox(cast.acme, cast.member)
    first, second = arrive(mailbox, [build(subject="First"), build(subject="Second")])
    assert not RecordCounter.objects.filter(organization=cast.acme).exists()

    with transaction.atomic():
        created = [conversion._create(mailbox, message) for message in (first, second)]

    cases = Case.objects.order_by("number")
    assert [(c.subject, c.reference) for c in cases] == [("First", "CASE-1"), ("Second", "CASE-2")]
    assert [c.pk for c in cases] == [c.pk for c in created if c is not None]
    assert [c.record.thread_id for c in cases] == [first.thread_id, second.thread_id]
    assert ThreadRecord.objects.count() == 2
    assert [(c.number, c.record_id) for c in created if c is not None] == [
        (c.number, c.record_id) for c in cases
    ]


def test_database_refuses_a_second_record_for_a_thread_even_of_the_other_kind(cast: Cast) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member)
    [message] = arrive(mailbox, [build()])
    process()
    with pytest.raises(IntegrityError), transaction.atomic():
        ThreadRecord.objects.create(organization=cast.acme, thread_id=message.thread_id, kind="case")


def test_changing_the_processing_choice_never_touches_existing_records(cast: Cast) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member)
    arrive(mailbox, [build()])
    process()
    before = list(Lead.objects.values())
    mailbox.process_type = "case"
    mailbox.lead_source = make_lead_source(cast.acme, "Web")
    mailbox.owner = cast.configurer
    mailbox.save()
    [second] = arrive(mailbox, [build()])
    process()
    assert list(Lead.objects.values()) == before
    assert Case.objects.get().message == second


def test_retired_source_is_still_given_to_new_leads(cast: Cast) -> None:
    source = make_lead_source(cast.acme, "Fax", retired=True)
    arrive(lead_mailbox(cast.acme, cast.member, source=source), [build()])
    process()
    assert Lead.objects.get().source == source


def test_thread_merge_keeps_both_records_and_later_mail_joins_the_survivor(cast: Cast) -> None:
    mailbox = case_mailbox(cast.acme, cast.member)
    a, b = build(subject="First topic"), build(subject="Second topic")
    arrive(mailbox, [a])
    arrive(mailbox, [b])
    process()
    first, second = Case.objects.order_by("number")
    # A message referencing both merges the two threads into the older one.
    linking = build(subject="Both", references=[_mid(a), _mid(b)])
    [link] = arrive(mailbox, [linking])
    process()

    assert Case.objects.count() == 2
    first.refresh_from_db()
    second.refresh_from_db()
    assert first.thread_id == link.thread_id
    assert second.thread_id is None and second.message.thread_id == link.thread_id
    assert job_of(mailbox, link).case == first


def test_record_of_an_absorbed_thread_is_reattached_to_the_merged_thread(cast: Cast) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member)
    old = build(subject="Old")
    arrive(mailbox, [old], folder="Sent", kind="sent")  # an older thread without a record
    new = build(subject="New", sender="Zed <zed@example.org>")
    arrive(mailbox, [new])
    process()
    lead = Lead.objects.get()
    [link] = arrive(mailbox, [build(subject="Both", references=[_mid(old), _mid(new)])])
    process()

    lead.refresh_from_db()
    assert lead.thread_id == link.thread_id  # the older thread survived; the lead moved with its mail
    assert job_of(mailbox, link).lead == lead
    assert Lead.objects.count() == 1


def test_recording_the_same_placements_twice_creates_one_job(cast: Cast) -> None:
    mailbox = lead_mailbox(cast.acme, cast.member)
    [message] = arrive(mailbox, [build()])
    record_new_placements(Placement.objects.filter(mailbox=mailbox))
    folder_of(mailbox)
    assert InboundJob.objects.filter(mailbox=mailbox, message=message).count() == 1


def _mid(raw: bytes) -> str:
    from tests.sync_helpers import message_id_of

    return "<" + message_id_of(raw) + ">"


def _with_body(text: str, html: str = "") -> Message:
    message = Message()
    message.body = MessageBody(text=text, html=html)
    return message


def test_record_text_squeezes_spaces_and_blank_lines_but_keeps_single_spaces() -> None:
    text = "  Hello  there,\t\tAnn \x00\r\n\n\n\n\nSecond  line\fend \n\n  \n"
    assert plain_text_body(_with_body(text)) == "Hello there, Ann\n\nSecond line end"
    assert plain_text_body(_with_body("one two\nthree")) == "one two\nthree"


@given(st.text(alphabet=st.sampled_from(list(" \t\r\f\v\n\x00ab\u00a0")), max_size=60))
def test_record_text_keeps_every_word_and_no_run_of_spaces_or_blank_lines(text: str) -> None:
    result = plain_text_body(_with_body(text))
    assert result.split() == text.replace("\x00", "").split()
    assert not any(run in result for run in ("  ", "\t", "\r", "\f", "\v", "\n\n\n", "\x00"))
    assert result == result.strip()


def test_a_thread_claimed_after_the_batch_looked_is_joined_not_converted_twice(cast: Cast) -> None:
    """Another transaction claimed the thread after this batch loaded its threads: the claim meets the
    conflict (no exception, so no savepoint is needed) and the message joins that record."""
    mailbox = case_mailbox(cast.acme, cast.member)
    [message] = arrive(mailbox, [build(subject="Printer on fire")])
    job = job_of(mailbox, message)
    with transaction.atomic(), batchcache.batch():
        conversion.prepare(cast.acme.pk, [message])  # the book: this thread has no record yet
        competitor = conversion._create(mailbox, message)  # e.g. a worker that did not take the lock
        result = conversion.convert(Arrival(job.mailbox, job.message, job.folder_kind, job.internal_date))

    assert competitor is not None
    assert (result.outcome, result.record) == ("joined", competitor)
    assert (Case.objects.count(), ThreadRecord.objects.count()) == (1, 1)
