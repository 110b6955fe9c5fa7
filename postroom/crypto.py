"""Secrets at rest: Fernet tokens under a rotatable list of keys (MultiFernet).

The first key in `settings.POSTROOM_ENCRYPTION_KEYS` encrypts; every key decrypts. To rotate, put a new
key first, re-encrypt (`rotate` turns any token into one under the newest key), then drop the old key.
"""

from __future__ import annotations

from functools import cache

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from django.conf import settings


class SecretUnreadable(Exception):
    """A stored secret cannot be decrypted with any configured key."""


@cache
def _fernet(keys: tuple[str, ...]) -> MultiFernet:
    if not keys:
        raise RuntimeError("POSTROOM_ENCRYPTION_KEYS is empty: no key to encrypt secrets with")
    return MultiFernet([Fernet(key.encode()) for key in keys])


def _current() -> MultiFernet:
    return _fernet(tuple(settings.POSTROOM_ENCRYPTION_KEYS))


def encrypt(plaintext: str) -> str:
    return _current().encrypt(plaintext.encode()).decode()


def decrypt(token: str) -> str:
    try:
        return _current().decrypt(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable(
            "a stored secret cannot be decrypted: was its key removed from POSTROOM_ENCRYPTION_KEYS?"
        ) from None


def rotate(token: str) -> str:
    """Re-encrypt `token` under the newest key (a no-op in meaning, a new ciphertext in bytes)."""
    try:
        return _current().rotate(token.encode()).decode()
    except InvalidToken:
        raise SecretUnreadable("a stored secret cannot be decrypted with any configured key") from None
