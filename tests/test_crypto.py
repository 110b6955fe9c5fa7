from __future__ import annotations

import pytest
from cryptography.fernet import Fernet
from django.test import override_settings

from postroom import crypto


def test_round_trip_does_not_contain_plaintext() -> None:
    token = crypto.encrypt("hunter2-password")
    assert "hunter2" not in token
    assert crypto.decrypt(token) == "hunter2-password"


def test_rotation_keeps_old_ciphertexts_readable_and_moves_them_to_the_new_key() -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    with override_settings(POSTROOM_ENCRYPTION_KEYS=[old]):
        token = crypto.encrypt("s3cret")
    with override_settings(POSTROOM_ENCRYPTION_KEYS=[new, old]):
        assert crypto.decrypt(token) == "s3cret"
        rotated = crypto.rotate(token)
    with override_settings(POSTROOM_ENCRYPTION_KEYS=[new]):
        assert crypto.decrypt(rotated) == "s3cret"
        with pytest.raises(crypto.SecretUnreadable):
            crypto.decrypt(token)
