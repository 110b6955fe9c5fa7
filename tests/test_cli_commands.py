"""`postroom` subcommands run in-process: output fields, exit codes, and that secrets never leak."""

from __future__ import annotations

import json
import logging
import stat
from pathlib import Path

import pytest

from postroom.accounts.models import ApiToken, User
from postroom.crm.models import LeadSource
from postroom.mailboxes.models import Mailbox
from postroom.organizations.models import Membership, Organization, Role
from tests.cli_helpers import Result, run_cli
from tests.conftest import Cast
from tests.factories import MAILBOX_PASSWORD, PASSWORD, make_lead_source, make_mailbox

NEW_USER_PASSWORD = "plum-Orbit-42-lantern"

Cap = pytest.CaptureFixture[str]
MP = pytest.MonkeyPatch


def mailbox_args(*extra: str, org: str = "acme", email: str = "help@acme.example") -> list[str]:
    return [
        "mailbox",
        "create",
        "--org",
        org,
        "--label",
        "Help",
        "--email",
        email,
        "--imap-host",
        "imap.acme.example",
        "--imap-port",
        "993",
        "--imap-encryption",
        "ssl",
        "--user",
        "help",
        "--password-stdin",
        *extra,
    ]


def assert_no_secret(result: Result, caplog: pytest.LogCaptureFixture, secret: str) -> None:
    assert secret not in result.out
    assert secret not in result.err
    assert secret not in caplog.text


# ------------------------------------------------------------------------------------------------- org


def test_org_create_prints_the_new_organizations_id(db: None, capsys: Cap, monkeypatch: MP) -> None:
    result = run_cli(capsys, monkeypatch, "org", "create", "initech", "--name", "Initech")
    assert result.code == 0
    org = Organization.objects.get(slug="initech")
    assert result.out == f"{org.pk}\n"
    assert org.name == "Initech"


def test_org_create_with_an_existing_slug_exits_2_and_says_so(
    cast: Cast, capsys: Cap, monkeypatch: MP
) -> None:
    result = run_cli(capsys, monkeypatch, "org", "create", "acme", "--name", "Another Acme")
    assert result.code == 2
    assert "already exists" in result.err and "acme" in result.err
    assert result.out == ""
    assert Organization.objects.get(slug="acme").name == "Acme Inc."


def test_org_create_rejects_a_slug_with_uppercase_or_spaces(db: None, capsys: Cap, monkeypatch: MP) -> None:
    result = run_cli(capsys, monkeypatch, "org", "create", "Bad Slug", "--name", "Bad")
    assert result.code == 2
    assert "Traceback" not in result.err
    assert not Organization.objects.exists()


def test_org_list_json_prints_one_object_per_line(cast: Cast, capsys: Cap, monkeypatch: MP) -> None:
    result = run_cli(capsys, monkeypatch, "org", "list", "--json")
    rows = [json.loads(line) for line in result.out.splitlines()]
    assert [row["slug"] for row in rows] == ["acme", "globex"]
    assert rows[0]["id"] == cast.acme.pk


# ------------------------------------------------------------------------------------------------ user


def test_user_create_reads_the_password_from_stdin_and_adds_membership_and_roles(
    cast: Cast, capsys: Cap, monkeypatch: MP, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = run_cli(
        capsys,
        monkeypatch,
        *("user", "create", "New.Person@Acme.example", "--org", "acme", "--role", "support"),
        *("--role", "Billing", "--org-admin", "--password-stdin"),
        stdin=NEW_USER_PASSWORD + "\n",
    )
    assert result.code == 0, result.err
    user = User.objects.get(email="new.person@acme.example")
    assert result.out == f"{user.pk}\n"
    assert user.check_password(NEW_USER_PASSWORD)
    membership = Membership.objects.get(user=user, organization=cast.acme)
    assert membership.is_admin
    assert {role.name for role in membership.roles.all()} == {"Support", "Billing"}
    billing = Role.objects.get(organization=cast.acme, name="Billing")
    assert not billing.can_configure
    assert "Billing" in result.err and "without configure permission" in result.err
    assert_no_secret(result, caplog, NEW_USER_PASSWORD)


def test_user_create_rejects_a_weak_password_and_creates_nothing(
    cast: Cast, capsys: Cap, monkeypatch: MP
) -> None:
    args = ("user", "create", "weak@acme.example", "--org", "acme", "--password-stdin")
    result = run_cli(capsys, monkeypatch, *args, stdin="123\n")
    assert result.code == 2
    assert any(line.startswith("password: ") for line in result.err.splitlines())
    assert "123" not in result.err
    assert not User.objects.filter(email="weak@acme.example").exists()


def test_user_create_for_an_existing_user_joins_another_org_and_keeps_the_password(
    cast: Cast, capsys: Cap, monkeypatch: MP
) -> None:
    args = ("user", "create", cast.member.email, "--org", "globex", "--platform-admin", "--password-stdin")
    result = run_cli(capsys, monkeypatch, *args, "--json", stdin=NEW_USER_PASSWORD)
    assert result.code == 0, result.err
    document = json.loads(result.out)
    assert document == {
        "id": cast.member.pk,
        "email": cast.member.email,
        "created": False,
        "organization": "globex",
        "org_admin": False,
        "platform_admin": True,
        "roles": [],
    }
    cast.member.refresh_from_db()
    assert cast.member.check_password(PASSWORD)
    assert cast.member.is_platform_admin
    assert Membership.objects.filter(user=cast.member, organization=cast.globex).exists()


def test_user_create_for_an_unknown_org_exits_2(db: None, capsys: Cap, monkeypatch: MP) -> None:
    args = ("user", "create", "x@example.com", "--org", "nope", "--password-stdin")
    result = run_cli(capsys, monkeypatch, *args, stdin=NEW_USER_PASSWORD)
    assert result.code == 2
    assert "nope" in result.err
    assert not User.objects.exists()


def test_new_user_without_password_stdin_is_refused(cast: Cast, capsys: Cap, monkeypatch: MP) -> None:
    result = run_cli(capsys, monkeypatch, "user", "create", "nopw@acme.example", "--org", "acme")
    assert result.code == 2
    assert "--password-stdin" in result.err
    assert not User.objects.filter(email="nopw@acme.example").exists()


# --------------------------------------------------------------------------------------------- mailbox


def test_mailbox_create_prints_only_the_new_id_and_stores_the_password_encrypted(
    cast: Cast, capsys: Cap, monkeypatch: MP, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    result = run_cli(
        capsys, monkeypatch, *mailbox_args("--access-role", "Support"), stdin=MAILBOX_PASSWORD + "\n"
    )
    assert result.code == 0, result.err
    mailbox = Mailbox.objects.get(organization=cast.acme, email="help@acme.example")
    assert result.out == f"{mailbox.pk}\n"
    assert mailbox.get_password() == MAILBOX_PASSWORD
    assert MAILBOX_PASSWORD not in mailbox.password_ciphertext
    assert not mailbox.smtp_enabled
    assert list(mailbox.access_roles.all()) == [cast.support_role]
    assert_no_secret(result, caplog, MAILBOX_PASSWORD)


def test_mailbox_create_reports_field_errors_and_creates_nothing(
    cast: Cast, capsys: Cap, monkeypatch: MP, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    args = mailbox_args(email="not-an-address")
    args[args.index("imap.acme.example")] = "bad host name"
    args[args.index("993")] = "70000"
    result = run_cli(capsys, monkeypatch, *args, stdin=MAILBOX_PASSWORD)
    assert result.code == 2
    assert result.out == ""
    fields = {line.split(": ", 1)[0] for line in result.err.splitlines()}
    assert fields == {"email", "imap_host", "imap_port"}
    assert not Mailbox.objects.exists()
    assert_no_secret(result, caplog, MAILBOX_PASSWORD)


def test_mailbox_create_without_a_password_names_the_password_field(
    cast: Cast, capsys: Cap, monkeypatch: MP
) -> None:
    args = [arg for arg in mailbox_args() if arg != "--password-stdin"]
    result = run_cli(capsys, monkeypatch, *args)
    assert result.code == 2
    assert result.err.startswith("password: ")
    assert not Mailbox.objects.exists()


def test_mailbox_create_in_an_unknown_org_exits_2(db: None, capsys: Cap, monkeypatch: MP) -> None:
    result = run_cli(capsys, monkeypatch, *mailbox_args(org="nope"), stdin=MAILBOX_PASSWORD)
    assert result.code == 2
    assert "nope" in result.err
    assert not Mailbox.objects.exists()


def test_mailbox_create_convert_to_lead_needs_an_owner_and_a_source(
    cast: Cast, capsys: Cap, monkeypatch: MP
) -> None:
    source = make_lead_source(cast.acme, "Email")
    without = run_cli(capsys, monkeypatch, *mailbox_args("--process", "lead"), stdin=MAILBOX_PASSWORD)
    assert without.code == 2
    assert {line.split(": ", 1)[0] for line in without.err.splitlines()} == {"owner", "lead_source"}

    args = mailbox_args("--process", "lead", "--owner", cast.member.email, "--source", source.key)
    with_both = run_cli(capsys, monkeypatch, *args, stdin=MAILBOX_PASSWORD)
    assert with_both.code == 0, with_both.err
    mailbox = Mailbox.objects.get(pk=int(with_both.out))
    assert (mailbox.process_type, mailbox.owner, mailbox.lead_source) == ("lead", cast.member, source)
    assert mailbox.processing_enabled_at is not None


def test_mailbox_create_refuses_an_owner_from_another_organization(
    cast: Cast, capsys: Cap, monkeypatch: MP
) -> None:
    args = mailbox_args("--process", "case", "--owner", cast.outsider.email)
    result = run_cli(capsys, monkeypatch, *args, stdin=MAILBOX_PASSWORD)
    assert result.code == 2
    assert result.err.startswith("owner: ")
    assert not Mailbox.objects.exists()


def test_mailbox_create_enables_smtp_when_an_smtp_host_is_given(
    cast: Cast, capsys: Cap, monkeypatch: MP
) -> None:
    args = mailbox_args("--smtp-host", "smtp.acme.example", "--smtp-port", "465", "--smtp-encryption", "ssl")
    result = run_cli(
        capsys, monkeypatch, *args, "--process", "case", "--owner", cast.org_admin.email, stdin="pw"
    )
    assert result.code == 0, result.err
    mailbox = Mailbox.objects.get(pk=int(result.out))
    assert (mailbox.smtp_enabled, mailbox.smtp_host, mailbox.smtp_port) == (True, "smtp.acme.example", 465)
    assert (mailbox.process_type, mailbox.owner) == ("case", cast.org_admin)


def test_mailbox_list_json_is_one_object_per_line_and_has_no_secret(
    cast: Cast, capsys: Cap, monkeypatch: MP
) -> None:
    support = make_mailbox(cast.acme, "Support")
    make_mailbox(cast.acme, "Sales", password="")
    make_mailbox(cast.globex, "Support")
    result = run_cli(capsys, monkeypatch, "mailbox", "list", "--org", "acme", "--json")
    assert result.code == 0
    rows = [json.loads(line) for line in result.out.splitlines()]
    assert {row["email"]: row["has_password"] for row in rows} == {
        support.email: True,
        "sales@acme.example.com": False,
    }
    assert MAILBOX_PASSWORD not in result.out
    assert support.password_ciphertext not in result.out


def test_mailbox_set_password_reads_stdin_and_prints_nothing(
    cast: Cast, capsys: Cap, monkeypatch: MP
) -> None:
    mailbox = make_mailbox(cast.acme, "Support", password="")
    result = run_cli(
        capsys, monkeypatch, "mailbox", "set-password", str(mailbox.pk), "--password-stdin", stdin="n3w"
    )
    assert (result.code, result.out, result.err) == (0, "", "")
    mailbox.refresh_from_db()
    assert mailbox.get_password() == "n3w"


# ------------------------------------------------------------------------------------ token, demo, misc


def test_token_create_prints_a_token_that_authenticates_as_the_user(
    cast: Cast, capsys: Cap, monkeypatch: MP
) -> None:
    result = run_cli(capsys, monkeypatch, "token", "create", cast.member.email, "--name", "scripts")
    assert result.code == 0
    raw = result.out.strip()
    assert ApiToken.authenticate(raw) == cast.member
    assert ApiToken.objects.get(user=cast.member).name == "scripts"


def test_token_create_for_an_unknown_user_exits_2(db: None, capsys: Cap, monkeypatch: MP) -> None:
    result = run_cli(capsys, monkeypatch, "token", "create", "ghost@example.com")
    assert result.code == 2
    assert not ApiToken.objects.exists()


def test_demo_is_idempotent_and_prints_a_login_that_works(
    db: None, capsys: Cap, monkeypatch: MP, tmp_path: Path
) -> None:
    monkeypatch.setenv("POSTROOM_DATA_DIR", str(tmp_path))
    first = run_cli(capsys, monkeypatch, "demo")
    counts = (
        Organization.objects.count(),
        Role.objects.count(),
        LeadSource.objects.count(),
        User.objects.count(),
    )
    second = run_cli(capsys, monkeypatch, "demo")
    assert first.code == second.code == 0
    assert first.out == second.out
    assert counts == (1, 3, 4, 2)
    assert counts == (
        Organization.objects.count(),
        Role.objects.count(),
        LeadSource.objects.count(),
        User.objects.count(),
    )

    password_file = tmp_path / "demo-password"
    assert stat.S_IMODE(password_file.stat().st_mode) == 0o600
    password = password_file.read_text().strip()
    assert f"admin@demo.postroom.test / {password}" in first.out
    admin = User.objects.get(email="admin@demo.postroom.test")
    assert admin.check_password(password) and admin.is_platform_admin
    org = Organization.objects.get(slug="demo")
    assert org.name == "Demo Organization"
    assert Membership.objects.get(user=admin, organization=org).is_admin
    sales = Membership.objects.get(user__email="sales@demo.postroom.test", organization=org)
    assert [role.name for role in sales.roles.all()] == ["Sales"]
    assert list(Role.objects.filter(can_configure=True).values_list("name", flat=True)) == ["Administrator"]
    assert [s.label for s in LeadSource.objects.all()] == ["Email", "Website", "Referral", "Trade Show"]
    assert not Mailbox.objects.exists()


def test_migrate_prints_nothing_when_the_database_is_current(db: None, capsys: Cap, monkeypatch: MP) -> None:
    result = run_cli(capsys, monkeypatch, "migrate")
    assert (result.code, result.out, result.err) == (0, "", "")


def test_unknown_subcommand_and_missing_option_exit_2(db: None, capsys: Cap, monkeypatch: MP) -> None:
    assert run_cli(capsys, monkeypatch, "frobnicate").code == 2
    missing = run_cli(capsys, monkeypatch, "org", "create", "x")
    assert missing.code == 2
    assert "--name" in missing.err
    assert not Organization.objects.exists()
