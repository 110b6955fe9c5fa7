"""The config document: export -> import round trips, idempotent imports, all-or-nothing validation,
and no secret ever in a document.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from postroom.crm.models import LeadSource
from postroom.mailboxes.models import Mailbox
from postroom.organizations import config
from postroom.organizations.document import DocumentInvalid, export_organization, import_document
from postroom.organizations.models import ConfigValue, Membership, Organization, Role
from tests.cli_helpers import run_cli
from tests.conftest import Cast
from tests.factories import MAILBOX_PASSWORD, make_lead_source, make_mailbox, make_org


def configure_acme(cast: Cast) -> None:
    """A realistic setup: a settings override, lead sources (one retired), and three kinds of mailbox."""
    config.set_value("email.sync_interval_minutes", 5, cast.acme)
    web = make_lead_source(cast.acme, "Website", position=1)
    make_lead_source(cast.acme, "Fax", position=2, retired=True)
    make_mailbox(cast.acme, "Archive", smtp_enabled=False)
    sales = make_mailbox(
        cast.acme,
        "Sales",
        process_type="lead",
        owner=cast.member,
        lead_source=web,
        sync_since="2024-02-01",
        verify_tls=False,
    )
    sales.access_users.set([cast.member, cast.loner])
    support = make_mailbox(
        cast.acme,
        "Support",
        smtp_enabled=True,
        smtp_host="smtp.example.com",
        smtp_port=465,
        smtp_encryption="ssl",
        process_type="case",
        owner=cast.org_admin,
        case_assignee=cast.member,
        case_status="in_progress",
        case_priority="high",
    )
    support.access_roles.set([cast.support_role, cast.configurer_role])


def copy_members(source: Organization, target: Organization) -> None:
    for membership in Membership.objects.filter(organization=source):
        Membership.objects.create(user=membership.user, organization=target, is_admin=membership.is_admin)


def without_org(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "organization"}


def row_counts() -> tuple[int, ...]:
    return (
        Role.objects.count(),
        LeadSource.objects.count(),
        Mailbox.objects.count(),
        ConfigValue.objects.count(),
        Mailbox.access_roles.through.objects.count(),
        Mailbox.access_users.through.objects.count(),
    )


def test_export_never_contains_a_password_or_its_ciphertext(cast: Cast) -> None:
    configure_acme(cast)
    text = json.dumps(export_organization(cast.acme))
    assert MAILBOX_PASSWORD not in text
    for ciphertext in Mailbox.objects.values_list("password_ciphertext", flat=True):
        assert ciphertext and ciphertext not in text
    assert "password" not in text


def test_export_describes_mailboxes_by_names_not_ids(cast: Cast) -> None:
    configure_acme(cast)
    document = export_organization(cast.acme)
    assert document["postroom_config"] == 1
    assert document["settings"] == {"email.sync_interval_minutes": 5}
    support = next(m for m in document["mailboxes"] if m["label"] == "Support")
    assert support["processing"] == {
        "type": "case",
        "owner": cast.org_admin.email,
        "source": None,
        "assign_to": cast.member.email,
        "status": "in_progress",
        "priority": "high",
    }
    assert support["access"] == {"roles": ["Mail Admin", "Support"], "users": []}
    assert support["smtp"] == {"enabled": True, "host": "smtp.example.com", "port": 465, "encryption": "ssl"}


def test_export_then_import_into_a_fresh_org_reproduces_it(cast: Cast) -> None:
    configure_acme(cast)
    fresh = make_org("fresh", "Fresh Org")
    copy_members(cast.acme, fresh)
    original = export_organization(cast.acme)

    report = import_document(fresh, original)

    assert without_org(export_organization(fresh)) == without_org(original)
    assert export_organization(fresh)["organization"] == {"slug": "fresh", "name": "Fresh Org"}
    assert len(report.created) == 2 + 2 + 3  # roles, lead sources, mailboxes
    assert sorted(report.password_needed) == [
        "mailbox archive@acme.example.com",
        "mailbox sales@acme.example.com",
        "mailbox support@acme.example.com",
    ]
    assert not any(m.has_password for m in Mailbox.objects.filter(organization=fresh))
    assert Mailbox.objects.get(organization=fresh, label="Sales").processing_enabled_at is not None


def test_importing_the_same_document_twice_changes_nothing_the_second_time(cast: Cast) -> None:
    configure_acme(cast)
    fresh = make_org("fresh")
    copy_members(cast.acme, fresh)
    document = export_organization(cast.acme)
    import_document(fresh, document)
    before = export_organization(fresh)
    counts = row_counts()
    stamps = list(
        Mailbox.objects.filter(organization=fresh).order_by("id").values_list("updated_at", flat=True)
    )

    second = import_document(fresh, document)

    assert not second.changed
    assert second.created == second.updated == []
    assert export_organization(fresh) == before
    assert row_counts() == counts
    assert stamps == list(
        Mailbox.objects.filter(organization=fresh).order_by("id").values_list("updated_at", flat=True)
    )


def test_reimporting_an_orgs_own_export_is_a_no_op_and_keeps_passwords(cast: Cast) -> None:
    configure_acme(cast)
    document = export_organization(cast.acme)
    report = import_document(cast.acme, document)
    assert not report.changed
    assert report.password_needed == []
    assert all(m.get_password() == MAILBOX_PASSWORD for m in Mailbox.objects.filter(organization=cast.acme))


def test_import_updates_a_mailbox_matched_by_email_and_keeps_its_password(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme, "Support")
    document = export_organization(cast.acme)
    entry = document["mailboxes"][0]
    entry["email"] = entry["email"].upper()
    entry["imap"]["host"] = "imap2.example.com"
    entry["access"]["roles"] = ["support"]

    report = import_document(cast.acme, document)

    mailbox.refresh_from_db()
    assert mailbox.imap_host == "imap2.example.com"
    assert list(mailbox.access_roles.all()) == [cast.support_role]
    assert mailbox.get_password() == MAILBOX_PASSWORD
    assert report.updated == [f"mailbox {mailbox.email} (imap.host, access.roles)"]
    assert report.created == []


def test_import_leaves_what_the_document_omits_alone_and_lists_it(cast: Cast) -> None:
    configure_acme(cast)
    document = {
        "postroom_config": 1,
        "roles": [{"name": "Sales", "description": "New business", "can_configure": False}],
        "lead_sources": [{"key": "website", "label": "Web site", "position": 1, "retired": False}],
        "mailboxes": [
            {
                "label": "Outreach",
                "email": "outreach@acme.example",
                "imap": {"host": "imap.acme.example"},
                "user": "o",
            }
        ],
    }
    counts = row_counts()

    report = import_document(cast.acme, document)

    assert report.created == ["role Sales", "mailbox outreach@acme.example"]
    assert report.updated == ["lead source website (label)"]
    assert "role Support" in report.left_alone and "lead source fax" in report.left_alone
    assert "mailbox support@acme.example.com" in report.left_alone
    assert "setting email.sync_interval_minutes" in report.left_alone
    assert report.password_needed == ["mailbox outreach@acme.example"]
    assert row_counts()[:3] == (counts[0] + 1, counts[1], counts[2] + 1)
    assert config.get("email.sync_interval_minutes", cast.acme) == 5


def broken_documents(cast: Cast) -> list[tuple[dict[str, Any], str]]:
    good: dict[str, Any] = {
        "postroom_config": 1,
        "settings": {"email.sync_interval_minutes": 10},
        "roles": [{"name": "Brand New", "can_configure": True}],
        "lead_sources": [{"key": "partner", "label": "Partner"}],
        "mailboxes": [
            {
                "label": "Inbound",
                "email": "inbound@acme.example",
                "imap": {"host": "imap.acme.example"},
                "user": "inbound",
                "processing": {"type": "lead", "owner": cast.member.email, "source": "partner"},
                "access": {"roles": ["Brand New"], "users": [cast.member.email]},
            }
        ],
    }
    cases: list[tuple[dict[str, Any], str]] = []

    def case(path: str, change: Any) -> None:
        document = copy.deepcopy(good)
        change(document)
        cases.append((document, path))

    case("postroom_config", lambda d: d.update(postroom_config=2))
    case("settings.email.unknown", lambda d: d["settings"].update({"email.unknown": 1}))
    case(
        "settings.email.sync_interval_minutes",
        lambda d: d["settings"].update({"email.sync_interval_minutes": 0}),
    )
    case("roles[0].can_configure", lambda d: d["roles"][0].update(can_configure="yes"))
    case("mailboxes[0].imap.host", lambda d: d["mailboxes"][0]["imap"].update(host="not a host"))
    case("mailboxes[0].imap.encryption", lambda d: d["mailboxes"][0]["imap"].update(encryption="tls"))
    case(
        "mailboxes[0].processing.owner",
        lambda d: d["mailboxes"][0]["processing"].update(owner=cast.outsider.email),
    )
    case("mailboxes[0].processing.source", lambda d: d["mailboxes"][0]["processing"].update(source="nowhere"))
    case("mailboxes[0].access.roles[0]", lambda d: d["mailboxes"][0]["access"].update(roles=["Ghosts"]))
    case(
        "mailboxes[0].access.users[0]",
        lambda d: d["mailboxes"][0]["access"].update(users=["x@nowhere.example"]),
    )
    case("mailboxes[0].colour", lambda d: d["mailboxes"][0].update(colour="red"))
    case("rules[0].mailbox", lambda d: d.update(rules=[{"name": "x"}]))
    return cases


def test_the_unbroken_document_used_below_imports_cleanly(cast: Cast) -> None:
    good, _ = broken_documents(cast)[0]
    good["postroom_config"] = 1
    report = import_document(cast.acme, good)
    assert report.created == ["role Brand New", "lead source partner", "mailbox inbound@acme.example"]


@pytest.mark.parametrize("index", range(12))
def test_a_bad_document_names_the_json_path_and_changes_nothing(cast: Cast, index: int) -> None:
    make_mailbox(cast.acme, "Support")
    document, path = broken_documents(cast)[index]
    before = export_organization(cast.acme)
    counts = row_counts()

    with pytest.raises(DocumentInvalid) as raised:
        import_document(cast.acme, document)

    assert path in [error_path for error_path, _ in raised.value.errors]
    assert export_organization(cast.acme) == before
    assert row_counts() == counts


def test_two_mailbox_errors_are_both_reported_and_the_valid_one_is_not_saved(cast: Cast) -> None:
    document = {
        "postroom_config": 1,
        "roles": [{"name": "Night Shift"}],
        "mailboxes": [
            {
                "label": "Good",
                "email": "good@acme.example",
                "imap": {"host": "imap.acme.example"},
                "user": "g",
            },
            {"label": "Bad", "email": "bad@acme.example", "imap": {"host": "-bad-"}, "user": "b"},
            {
                "label": "Good",
                "email": "other@acme.example",
                "imap": {"host": "imap.acme.example"},
                "user": "o",
            },
        ],
    }
    with pytest.raises(DocumentInvalid) as raised:
        import_document(cast.acme, document)
    assert [path for path, _ in raised.value.errors] == ["mailboxes[1].imap.host", "mailboxes[2].label"]
    assert not Mailbox.objects.exists()
    assert not Role.objects.filter(name="Night Shift").exists()


# ---------------------------------------------------------------------------------------------- the CLI


def test_cli_export_then_import_twice_reports_no_changes(
    cast: Cast, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    configure_acme(cast)
    fresh = make_org("fresh")
    copy_members(cast.acme, fresh)
    exported = run_cli(capsys, monkeypatch, "config", "export", "--org", "acme")
    assert exported.code == 0
    assert MAILBOX_PASSWORD not in exported.out
    path = tmp_path / "org.json"
    path.write_text(exported.out)

    first = run_cli(capsys, monkeypatch, "config", "import", "--org", "fresh", str(path))
    second = run_cli(capsys, monkeypatch, "config", "import", "--org", "fresh", str(path))

    assert first.code == second.code == 0
    assert "created: mailbox support@fresh.example.com" not in first.out  # emails keep their own domain
    assert "created: mailbox support@acme.example.com" in first.out
    assert "password needed: mailbox support@acme.example.com" in first.out
    assert second.out.splitlines()[0] == "no changes"
    assert "created:" not in second.out and "updated:" not in second.out


def test_cli_import_of_a_bad_document_exits_2_with_json_paths(
    cast: Cast, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "bad.json"
    path.write_text(
        json.dumps({"postroom_config": 1, "roles": [{"name": ""}], "mailboxes": [{"label": "x"}]})
    )
    result = run_cli(capsys, monkeypatch, "config", "import", "--org", "acme", str(path))
    assert result.code == 2
    assert result.err.splitlines() == [
        "roles[0].name: must be 1 to 100 characters",
        "mailboxes[0].email: is required",
    ]
    assert Role.objects.count() == 2


def test_cli_import_of_a_file_that_is_not_json_exits_2(
    cast: Cast, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "org.json"
    path.write_text("{not json")
    result = run_cli(capsys, monkeypatch, "config", "import", "--org", "acme", str(path))
    assert result.code == 2
    assert "not JSON" in result.err
    missing = run_cli(capsys, monkeypatch, "config", "import", "--org", "acme", str(tmp_path / "none.json"))
    assert missing.code == 2
