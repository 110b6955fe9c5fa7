"""`postroom keys rotate/list/retire`: secrets stay readable through a rotation, are all re-encrypted under
the new key, and the old key can be removed only once nothing uses it."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet
from django.conf import LazySettings

from postroom import crypto
from postroom.audit.models import AuditEntry
from postroom.mailboxes.models import Mailbox
from tests.cli_helpers import run_cli
from tests.conftest import Cast
from tests.factories import make_mailbox


@pytest.fixture
def ring_file(settings: LazySettings, tmp_path: Path) -> Path:
    """A key ring file with one old key, as the embedded default keeps it."""
    path = tmp_path / "encryption-key"
    old = Fernet.generate_key().decode()
    path.write_text(old + "\n")
    settings.POSTROOM_KEY_RING_FILE = str(path)
    settings.POSTROOM_ENCRYPTION_KEYS = [old]
    return path


def fingerprints(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> list[str]:
    listing = run_cli(capsys, monkeypatch, "keys", "list")
    assert listing.code == 0, listing.err
    return [line.split("\t")[0] for line in listing.out.splitlines()]


def test_rotation_reencrypts_everything_and_the_old_key_can_then_be_retired(
    cast: Cast, ring_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    old_key = ring_file.read_text().strip()
    mailboxes = [make_mailbox(cast.acme, f"Box {i}", password=f"pw-{i}") for i in range(5)]
    before = {m.pk: m.password_ciphertext for m in mailboxes}
    assert all(crypto.key_of(token, (old_key,)) == old_key for token in before.values())

    rotated = run_cli(capsys, monkeypatch, "keys", "rotate")
    assert rotated.code == 0, rotated.err
    assert "re-encrypted 5 secrets" in rotated.out
    ring = ring_file.read_text().split()
    assert len(ring) == 2 and ring[1] == old_key
    assert oct(ring_file.stat().st_mode & 0o777) == "0o600"
    new_key = ring[0]
    assert new_key not in rotated.out + rotated.err  # only fingerprints are ever printed
    for mailbox in Mailbox.objects.filter(pk__in=before):
        assert mailbox.password_ciphertext != before[mailbox.pk]
        assert crypto.key_of(mailbox.password_ciphertext, (new_key, old_key)) == new_key
        assert mailbox.get_password() == f"pw-{mailbox.label.split()[1]}"
    assert not AuditEntry.objects.filter(changes__has_key="password", action="changed").exists()

    listing = run_cli(capsys, monkeypatch, "keys", "list")
    assert f"{crypto.fingerprint(new_key)}\tprimary\t5 secrets" in listing.out
    assert f"{crypto.fingerprint(old_key)}\tdecrypt only\t0 secrets" in listing.out

    retired = run_cli(capsys, monkeypatch, "keys", "retire", crypto.fingerprint(old_key))
    assert retired.code == 0, retired.err
    assert ring_file.read_text().split() == [new_key]
    for mailbox in Mailbox.objects.filter(pk__in=before):
        assert mailbox.get_password().startswith("pw-")


def test_retiring_a_key_still_in_use_is_refused(
    cast: Cast,
    ring_file: Path,
    settings: LazySettings,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    old_key = ring_file.read_text().strip()
    mailbox = make_mailbox(cast.acme, password="kept")
    new_key = Fernet.generate_key().decode()
    ring_file.write_text(f"{new_key}\n{old_key}\n")
    settings.POSTROOM_ENCRYPTION_KEYS = [new_key, old_key]

    refused = run_cli(capsys, monkeypatch, "keys", "retire", crypto.fingerprint(old_key))
    assert refused.code == 1
    assert "still encrypts 1 secrets" in refused.err
    assert ring_file.read_text().split() == [new_key, old_key]
    primary = run_cli(capsys, monkeypatch, "keys", "retire", crypto.fingerprint(new_key))
    assert primary.code == 2 and "primary" in primary.err
    unknown = run_cli(capsys, monkeypatch, "keys", "retire", "0000")
    assert unknown.code == 2
    mailbox.refresh_from_db()
    assert mailbox.get_password() == "kept"


def test_rotate_takes_a_given_key_from_stdin_and_refuses_a_bad_one(
    cast: Cast, ring_file: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    make_mailbox(cast.acme, password="kept")
    given = Fernet.generate_key().decode()
    bad = run_cli(capsys, monkeypatch, "keys", "rotate", "--key-stdin", stdin="not-a-key\n")
    assert bad.code == 2 and "not a Fernet key" in bad.err
    assert len(ring_file.read_text().split()) == 1
    good = run_cli(capsys, monkeypatch, "keys", "rotate", "--key-stdin", stdin=given + "\n")
    assert good.code == 0, good.err
    assert ring_file.read_text().split()[0] == given
    assert fingerprints(capsys, monkeypatch)[0] == crypto.fingerprint(given)


def test_a_process_started_before_the_rotation_still_decrypts(ring_file: Path) -> None:
    old_key = ring_file.read_text().strip()
    new_key = Fernet.generate_key().decode()
    ring_file.write_text(f"{new_key}\n{old_key}\n")  # what `keys rotate` in another process wrote
    token = Fernet(new_key.encode()).encrypt(b"still-readable").decode()
    # This process still has only the old key in its settings, yet reads the re-encrypted secret.
    assert crypto.decrypt(token) == "still-readable"
    ring_file.write_text(f"{old_key}\n")
    with pytest.raises(crypto.SecretUnreadable):
        crypto.decrypt(token)


def test_with_keys_from_the_environment_rotate_only_reencrypts(
    cast: Cast, settings: LazySettings, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings.POSTROOM_KEY_RING_FILE = ""
    settings.POSTROOM_ENCRYPTION_KEYS = [old]
    mailbox = make_mailbox(cast.acme, password="from-env")
    settings.POSTROOM_ENCRYPTION_KEYS = [new, old]  # the operator put the new key first
    refused = run_cli(capsys, monkeypatch, "keys", "rotate", "--key-stdin", stdin=new + "\n")
    assert refused.code == 2
    result = run_cli(capsys, monkeypatch, "keys", "rotate")
    assert result.code == 0 and "re-encrypted 1 secrets" in result.out
    mailbox.refresh_from_db()
    assert crypto.key_of(mailbox.password_ciphertext, (new, old)) == new
    advice = run_cli(capsys, monkeypatch, "keys", "retire", crypto.fingerprint(old))
    assert advice.code == 0 and "remove it from POSTROOM_ENCRYPTION_KEYS" in advice.out
