"""`postroom keys ...`: the key ring that encrypts secrets at rest (mailbox passwords).

`rotate` puts a new key first in the ring and re-encrypts every stored secret under it, in batches, each
batch in its own transaction; `list` shows each key's fingerprint (never the key) and how many secrets it
encrypts; `retire` removes a key once nothing is encrypted with it.

The ring is the data directory's `encryption-key` file (one key per line, newest first), which these
commands rewrite. When POSTROOM_ENCRYPTION_KEYS is set the environment is the ring: the operator puts the
new key first there, `rotate` re-encrypts under it, and `retire` only says whether a key may be dropped.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from cryptography.fernet import Fernet
from django.conf import settings
from django.db import models, transaction

from postroom import crypto
from postroom.commands.base import CommandFailed, Subcommands, UsageError, print_json, read_secret_from_stdin
from postroom.mailboxes.models import Mailbox

# Every encrypted column: (model, field). A new secret at rest (OAuth tokens) is added here.
ENCRYPTED_FIELDS: tuple[tuple[type[models.Model], str], ...] = ((Mailbox, "password_ciphertext"),)
BATCH_SIZE = 200
UNREADABLE = "unreadable"


def register(subcommands: Subcommands) -> None:
    group = subcommands.add_parser("keys", help="the encryption keys of secrets at rest").add_subparsers(
        dest="action", metavar="ACTION", required=True
    )
    rotate = group.add_parser("rotate", help="put a new key first and re-encrypt every secret under it")
    rotate.add_argument("--key-stdin", action="store_true", help="read the new Fernet key from stdin")
    rotate.set_defaults(handler=handle_rotate)

    listing = group.add_parser("list", help="key fingerprints, newest first, with the secrets each encrypts")
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=handle_list)

    retire = group.add_parser("retire", help="remove a key that no stored secret uses any more")
    retire.add_argument("fingerprint", metavar="FINGERPRINT")
    retire.set_defaults(handler=handle_retire)


def ring() -> tuple[str, ...]:
    return tuple(settings.POSTROOM_ENCRYPTION_KEYS)


def _ring_from_file() -> bool:
    return bool(settings.POSTROOM_KEY_RING_FILE)


def _write_ring(keys: tuple[str, ...]) -> None:
    """Replace the ring file atomically (readers see the old or the new ring, never half of one) and use
    the new ring in this process."""
    path = Path(settings.POSTROOM_KEY_RING_FILE)
    temporary = path.with_name(path.name + ".new")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write("".join(f"{key}\n" for key in keys))
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)
    settings.POSTROOM_ENCRYPTION_KEYS = list(keys)


def _new_key(args: argparse.Namespace) -> str:
    if not args.key_stdin:
        return Fernet.generate_key().decode()
    key = read_secret_from_stdin("key").strip()
    try:
        Fernet(key.encode())
    except ValueError:
        raise UsageError("the key on stdin is not a Fernet key (32 url-safe base64-encoded bytes)") from None
    return key


def handle_rotate(args: argparse.Namespace) -> int:
    if _ring_from_file():
        key = _new_key(args)
        if key in ring():
            raise UsageError(f"key {crypto.fingerprint(key)} is already in the ring")
        _write_ring((key, *ring()))
        print(f"new key {crypto.fingerprint(key)} is first in {settings.POSTROOM_KEY_RING_FILE}")
    elif args.key_stdin:
        raise UsageError(
            "POSTROOM_ENCRYPTION_KEYS is set: put the new key first there, restart, then run `keys rotate`"
        )
    rotated, unreadable = reencrypt_all()
    print(f"re-encrypted {rotated} secrets under key {crypto.fingerprint(ring()[0])}")
    if unreadable:
        print(f"{unreadable} secrets cannot be decrypted with any key; left as they are", file=sys.stderr)
        return 1
    return 0


def reencrypt_all() -> tuple[int, int]:
    """Re-encrypt every stored secret under the first key; return (re-encrypted, unreadable)."""
    rotated = unreadable = 0
    for model, field in ENCRYPTED_FIELDS:
        ids = list(model._default_manager.exclude(**{field: ""}).order_by("pk").values_list("pk", flat=True))
        for start in range(0, len(ids), BATCH_SIZE):
            done, failed = _reencrypt_batch(model, field, ids[start : start + BATCH_SIZE])
            rotated, unreadable = rotated + done, unreadable + failed
    return rotated, unreadable


def _reencrypt_batch(model: type[models.Model], field: str, ids: list[int]) -> tuple[int, int]:
    changed: list[models.Model] = []
    failed = 0
    with transaction.atomic():
        # Locked, so a password saved meanwhile is not overwritten with the re-encrypted old one.
        for row in model._default_manager.select_for_update().filter(pk__in=ids).exclude(**{field: ""}):
            try:
                setattr(row, field, crypto.rotate(getattr(row, field)))
            except crypto.SecretUnreadable:
                failed += 1
                continue
            changed.append(row)
        # bulk_update sends no signals: a re-encryption changes no secret, so the audit log stays quiet.
        model._default_manager.bulk_update(changed, [field])
    return len(changed), failed


def usage_by_key() -> Counter[str]:
    """How many stored secrets each key (by fingerprint) decrypts; UNREADABLE for none."""
    counts: Counter[str] = Counter()
    keys = ring()
    for model, field in ENCRYPTED_FIELDS:
        for token in model._default_manager.exclude(**{field: ""}).values_list(field, flat=True).iterator():
            key = crypto.key_of(token, keys)
            counts[crypto.fingerprint(key) if key else UNREADABLE] += 1
    return counts


def handle_list(args: argparse.Namespace) -> int:
    counts = usage_by_key()
    for position, key in enumerate(ring()):
        fp = crypto.fingerprint(key)
        row = {"fingerprint": fp, "primary": position == 0, "secrets": counts[fp]}
        if args.json:
            print_json(row)
        else:
            print(f"{fp}\t{'primary' if position == 0 else 'decrypt only'}\t{counts[fp]} secrets")
    if counts[UNREADABLE]:
        print(f"{counts[UNREADABLE]} secrets cannot be decrypted with any key", file=sys.stderr)
    return 0


def handle_retire(args: argparse.Namespace) -> int:
    keys = ring()
    matches = [key for key in keys if crypto.fingerprint(key) == args.fingerprint.strip()]
    if not matches:
        raise UsageError(f"no key with fingerprint {args.fingerprint!r}: see `postroom keys list`")
    key = matches[0]
    if key == keys[0]:
        raise UsageError("this is the primary key, which encrypts new secrets: rotate to a new key first")
    in_use = usage_by_key()[crypto.fingerprint(key)]
    if in_use:
        raise CommandFailed(
            f"key {crypto.fingerprint(key)} still encrypts {in_use} secrets: run `postroom keys rotate` first"
        )
    if not _ring_from_file():
        print(f"nothing uses key {crypto.fingerprint(key)}: remove it from POSTROOM_ENCRYPTION_KEYS")
        return 0
    _write_ring(tuple(k for k in keys if k != key))
    print(f"retired key {crypto.fingerprint(key)}")
    return 0
