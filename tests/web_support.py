"""Helpers for the web UI tests: valid form data and small request shortcuts."""

from __future__ import annotations

from typing import Any

from django.test import Client

from postroom.accounts.models import User
from tests.factories import MAILBOX_PASSWORD


def mailbox_form_data(**overrides: Any) -> dict[str, Any]:
    """A valid POST for the mailbox form; an override of None drops the field (an unticked checkbox)."""
    data: dict[str, Any] = {
        "label": "Sales",
        "email": "sales@acme.example.com",
        "imap_enabled": "on",
        "imap_host": "imap.example.com",
        "imap_port": "993",
        "imap_encryption": "ssl",
        "smtp_host": "",
        "smtp_port": "587",
        "smtp_encryption": "starttls",
        "username": "sales",
        "password": MAILBOX_PASSWORD,
        "verify_tls": "on",
        "sync_since": "",
        "process_type": "none",
        "case_status": "open",
        "case_priority": "normal",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value is not None}


def client_for(user: User | None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client
