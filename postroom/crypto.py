"""Secrets at rest: Fernet tokens under a rotatable list of keys (MultiFernet).

The first key in `settings.POSTROOM_ENCRYPTION_KEYS` encrypts; every key decrypts. To rotate, put a new
key first, re-encrypt (`rotate` turns any token into one under the newest key), then drop the old key.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from postroom import logs


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with any configured key."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise RuntimeError("POSTROOM_ENCRYPTION_KEYS is empty: no key to encrypt secrets with")
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.POSTROOM_ENCRYPTION_KEYS))


# sensitive_variables: an exception report (technical 500, error e-mail) shows "plaintext" as stars.
@sensitive_variables("plaintext")
def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


@sensitive_variables("plaintext")
def decrypt(token: str) -> str:
    plaintext = _decrypt_with_ring(token)
    logs.remember_secret(plaintext)  # from now on, log lines of this process never show it
    return plaintext


def _decrypt_with_ring(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken:
        pass
    # `postroom keys rotate` may have re-encrypted the secret under a key added to the ring file after this
    # process started: that key decrypts it too.
    fresh = ring_file_keys()
    if fresh and fresh != tuple(settings.POSTROOM_ENCRYPTION_KEYS):
        try:
            return _fernet(fresh).decrypt(token.encode()).decode()
        except InvalidToken:
            pass
    raise SecretUnreadable(
        "a stored secret cannot be decrypted: was its key removed from POSTROOM_ENCRYPTION_KEYS?"
    )


def ring_file_keys() -> tuple[str, ...]:
    """The keys in the data directory's key ring file, newest first; () when the ring comes from the
    environment (POSTROOM_ENCRYPTION_KEYS) or the file is gone."""
    path = settings.POSTROOM_KEY_RING_FILE
    try:
        return tuple(Path(path).read_text().split()) if path else ()
    except FileNotFoundError:
        return ()


def fingerprint(key: str) -> str:
    """A name for a key that reveals nothing about it: the start of its SHA-256."""
    return hashlib.sha256(key.encode()).hexdigest()[:16]


def key_of(token: str, keys: tuple[str, ...]) -> str | None:
    """The key among `keys` that decrypts `token`, or None."""
    for key in keys:
        try:
            Fernet(key.encode()).decrypt(token.encode())
        except InvalidToken:
            continue
        return key
    return None


def rotate(token: str) -> str:
    """Re-encrypt `token` under the newest key (a no-op in meaning, a new ciphertext in bytes)."""
    try:
        return _current().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("a stored secret cannot be decrypted with any configured key") from None
