"""The sync engine against a real Dovecot: first and incremental sync, read-only on the server, flags,
deletions, moves, UIDVALIDITY, folders gone, identity across folders and mailboxes. Every test ends
checking that no message was lost and none duplicated."""

from __future__ import annotations

from datetime import UTC, date, datetime

from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Message
from postroom.sync.engine import _chunks, sync_mailbox
from postroom.sync.models import Placement
from tests.conftest import Cast
from tests.mailbuilder import build
from tests.servers.dovecot import Credentials, Dovecot
from tests.sync_helpers import (
    append,
    assert_exactly_once,
    folder,
    imap_mailbox,
    server_flags,
    state,
    tick,
)

pytest_plugins = ["tests.servers.fixtures"]


def synced_mailbox(cast: Cast, server: Dovecot, user: Credentials, *folders: str, **extra: object) -> Mailbox:
    mailbox = imap_mailbox(cast.acme, server, user, "Support", **extra)
    tick(mailbox, *folders)
    return mailbox


def test_first_sync_takes_every_message_once_and_never_marks_mail_read(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    unread = [build(subject=f"Unread {n}") for n in range(3)]
    read = [build(subject=f"Read {n}") for n in range(2)]
    append(dovecot, imap_user, "INBOX", unread)
    append(dovecot, imap_user, "INBOX", read, flags=("\\Seen",))
    before = server_flags(dovecot, imap_user, "INBOX")
    mailbox = synced_mailbox(cast, dovecot, imap_user, "INBOX")

    report = sync_mailbox(mailbox)

    assert (report.status, report.fetched, report.created) == ("ok", 5, 5)
    assert server_flags(dovecot, imap_user, "INBOX") == before  # BODY.PEEK, EXAMINE: nothing changed
    assert_exactly_once(mailbox, "INBOX", unread + read)
    seen = dict(Placement.objects.filter(mailbox=mailbox).values_list("message__subject", "seen"))
    assert seen == {"Unread 0": False, "Unread 1": False, "Unread 2": False, "Read 0": True, "Read 1": True}
    sync_state = state(mailbox)
    assert sync_state.last_success_at is not None and sync_state.last_error_code == ""
    assert sync_state.messages_created == 5 and sync_state.next_sync_at is not None
    assert folder(mailbox, "INBOX").uidvalidity is not None


def test_second_sync_without_new_mail_fetches_nothing_and_duplicates_nothing(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    raws = [build() for _ in range(4)]
    append(dovecot, imap_user, "INBOX", raws)
    mailbox = synced_mailbox(cast, dovecot, imap_user, "INBOX")
    sync_mailbox(mailbox)

    again = sync_mailbox(mailbox)

    assert (again.status, again.fetched) == ("ok", 0)
    assert_exactly_once(mailbox, "INBOX", raws)


def test_incremental_sync_fetches_only_mail_above_the_checkpoint(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    first = [build() for _ in range(3)]
    append(dovecot, imap_user, "INBOX", first)
    mailbox = synced_mailbox(cast, dovecot, imap_user, "INBOX")
    sync_mailbox(mailbox)
    checkpoint = folder(mailbox, "INBOX").last_uid
    later = [build() for _ in range(2)]
    later_uids = append(dovecot, imap_user, "INBOX", later)

    report = sync_mailbox(mailbox)

    assert report.fetched == 2 and min(later_uids) > checkpoint
    assert folder(mailbox, "INBOX").last_uid == max(later_uids)
    assert_exactly_once(mailbox, "INBOX", first + later)


def test_first_sync_since_a_date_skips_older_mail(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    old = [build(subject="Old") for _ in range(2)]
    new = [build(subject="New") for _ in range(2)]
    append(dovecot, imap_user, "INBOX", old, when=datetime(2025, 1, 10, 12, tzinfo=UTC))
    append(dovecot, imap_user, "INBOX", new, when=datetime(2026, 2, 10, 12, tzinfo=UTC))
    mailbox = synced_mailbox(cast, dovecot, imap_user, "INBOX", sync_since=date(2026, 1, 1))

    report = sync_mailbox(mailbox)

    assert report.fetched == 2
    assert_exactly_once(mailbox, "INBOX", new)
    assert not Message.objects.filter(subject="Old").exists()
    dates = Placement.objects.filter(mailbox=mailbox).values_list("internal_date", flat=True)
    assert all(d is not None and d.year == 2026 for d in dates)  # server INTERNALDATE, not Date header


def test_seen_flag_set_on_server_is_reflected_with_condstore(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    raws = [build() for _ in range(3)]
    uids = append(dovecot, imap_user, "INBOX", raws)
    mailbox = synced_mailbox(cast, dovecot, imap_user, "INBOX")
    sync_mailbox(mailbox)
    assert folder(mailbox, "INBOX").highest_modseq is not None  # Dovecot offers CONDSTORE
    with dovecot.imap(imap_user.username) as admin:
        admin.select_folder("INBOX")
        admin.add_flags([uids[1]], ["\\Seen"])

    report = sync_mailbox(mailbox)

    assert report.fetched == 0 and report.folders[0].flags_updated == 1
    seen = dict(Placement.objects.filter(mailbox=mailbox).values_list("uid", "seen"))
    assert seen == {uids[0]: False, uids[1]: True, uids[2]: False}
    assert_exactly_once(mailbox, "INBOX", raws)


def test_seen_flag_change_is_reflected_on_a_server_without_condstore(
    cast: Cast, dovecot_bare: Dovecot, bare_imap_user: Credentials
) -> None:
    raws = [build() for _ in range(3)]
    uids = append(dovecot_bare, bare_imap_user, "INBOX", raws, flags=("\\Seen",))
    mailbox = synced_mailbox(cast, dovecot_bare, bare_imap_user, "INBOX")
    sync_mailbox(mailbox)
    assert folder(mailbox, "INBOX").highest_modseq is None
    with dovecot_bare.imap(bare_imap_user.username) as admin:
        admin.select_folder("INBOX")
        admin.remove_flags([uids[0]], ["\\Seen"])

    report = sync_mailbox(mailbox)

    assert report.folders[0].flags_updated == 1
    seen = dict(Placement.objects.filter(mailbox=mailbox).values_list("uid", "seen"))
    assert seen == {uids[0]: False, uids[1]: True, uids[2]: True}
    assert_exactly_once(mailbox, "INBOX", raws)


def test_message_deleted_on_server_loses_its_placement_but_is_kept(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    raws = [build() for _ in range(3)]
    uids = append(dovecot, imap_user, "INBOX", raws)
    mailbox = synced_mailbox(cast, dovecot, imap_user, "INBOX")
    sync_mailbox(mailbox)
    with dovecot.imap(imap_user.username) as admin:
        admin.select_folder("INBOX")
        admin.delete_messages([uids[1]])
        admin.expunge()

    report = sync_mailbox(mailbox)

    assert report.folders[0].removed == 1
    assert_exactly_once(mailbox, "INBOX", [raws[0], raws[2]])
    assert Message.objects.filter(organization=cast.acme).count() == 3  # we never lose mail


def test_message_moved_between_synced_folders_keeps_its_row_and_gets_the_new_placement(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    raws = [build() for _ in range(3)]
    uids = append(dovecot, imap_user, "INBOX", raws)
    mailbox = synced_mailbox(cast, dovecot, imap_user, "INBOX", "Archive")
    sync_mailbox(mailbox)
    moved_pk = Placement.objects.get(mailbox=mailbox, uid=uids[0], folder__name="INBOX").message_id
    with dovecot.imap(imap_user.username) as admin:
        admin.select_folder("INBOX")
        admin.move([uids[0]], "Archive")

    report = sync_mailbox(mailbox)

    assert report.created == 0
    assert_exactly_once(mailbox, "INBOX", raws[1:])
    assert_exactly_once(mailbox, "Archive", raws[:1])
    assert Placement.objects.get(mailbox=mailbox, folder__name="Archive").message_id == moved_pk
    assert Message.objects.filter(organization=cast.acme).count() == 3


def test_uidvalidity_change_resyncs_the_folder_without_duplicates(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    raws = [build() for _ in range(4)]
    append(dovecot, imap_user, "INBOX", raws)
    mailbox = synced_mailbox(cast, dovecot, imap_user, "INBOX")
    sync_mailbox(mailbox)
    old_validity = folder(mailbox, "INBOX").uidvalidity
    assert old_validity is not None
    dovecot.doveadm(
        "mailbox", "update", "-u", imap_user.username, "--uid-validity", str(old_validity + 7), "INBOX"
    )

    report = sync_mailbox(mailbox)

    assert report.folders[0].uidvalidity_reset and report.fetched == 4 and report.created == 0
    assert folder(mailbox, "INBOX").uidvalidity == old_validity + 7
    assert_exactly_once(mailbox, "INBOX", raws)
    assert state(mailbox).uidvalidity_resets == 1


def test_folder_deleted_on_server_is_marked_gone_and_the_other_folders_still_sync(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    with dovecot.imap(imap_user.username) as admin:
        admin.create_folder("Projects")
    kept = [build(subject="Project mail")]
    append(dovecot, imap_user, "Projects", kept)
    mailbox = synced_mailbox(cast, dovecot, imap_user, "INBOX", "Projects")
    sync_mailbox(mailbox)
    with dovecot.imap(imap_user.username) as admin:
        admin.rename_folder("Projects", "Projects-2026")
    inbox_mail = [build()]
    append(dovecot, imap_user, "INBOX", inbox_mail)

    report = sync_mailbox(mailbox)

    assert report.fetched == 1 and report.failed
    assert not folder(mailbox, "Projects").exists_on_server
    sync_state = state(mailbox)
    assert sync_state.last_error_code == "folder_gone" and "Projects" in sync_state.last_error
    assert "re-check folders" in sync_state.last_error and sync_state.error_since is not None
    assert_exactly_once(mailbox, "INBOX", inbox_mail)
    assert_exactly_once(mailbox, "Projects", kept)  # its messages are kept


def test_same_message_in_two_mailboxes_of_one_organization_is_stored_once_with_two_placements(
    cast: Cast, dovecot: Dovecot, imap_user: Credentials
) -> None:
    other_user = dovecot.add_user(f"sales-{imap_user.username}", "pw-sales-Q1!")
    shared = build(subject="To support and sales")
    append(dovecot, imap_user, "INBOX", [shared])
    append(dovecot, other_user, "INBOX", [shared])
    support = synced_mailbox(cast, dovecot, imap_user, "INBOX")
    sales = imap_mailbox(cast.acme, dovecot, other_user, label="Sales")
    tick(sales, "INBOX")

    sync_mailbox(support)
    sync_mailbox(sales)

    message = Message.objects.get(organization=cast.acme, subject="To support and sales")
    assert sorted(Placement.objects.filter(message=message).values_list("mailbox__label", flat=True)) == [
        "Sales",
        "Support",
    ]
    assert_exactly_once(support, "INBOX", [shared])
    assert_exactly_once(sales, "INBOX", [shared])


def test_a_pipelined_backlog_starts_with_a_small_batch_and_doubles_it_up_to_a_full_one() -> None:
    """Nothing is stored until the first batch is fetched and parsed: a small one gets storing going."""
    uids = list(range(1, 2001))
    chunks = list(_chunks(uids, 250, first=50))
    assert [len(chunk) for chunk in chunks] == [50, 100, 200, 250, 250, 250, 250, 250, 250, 150]
    assert [uid for chunk in chunks for uid in chunk] == uids
    assert [len(chunk) for chunk in _chunks([1, 2, 3], 250, first=50)] == [3]
    assert [len(chunk) for chunk in _chunks(uids[:12], 5, first=50)] == [5, 5, 2]  # never above `size`
