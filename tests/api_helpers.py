"""Calling the JSON API in tests: a bearer token per user and one JSON request helper."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from django.test import Client

from postroom.accounts.models import ApiToken, User

if TYPE_CHECKING:
    # The test client's response type (with .json()) lives only in the stubs.
    from django.test.client import _MonkeyPatchedWSGIResponse as Response

BASE = "/api/v1"


def token_for(user: User) -> str:
    return ApiToken.issue(user, "tests")[1]


def call(method: str, path: str, token: str | None = None, body: Any = None) -> Response:
    """`method` `BASE + path` with an optional bearer token and JSON body."""
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    data = json.dumps(body) if body is not None else ""
    return Client().generic(method, BASE + path, data=data, content_type="application/json", headers=headers)


def as_user(user: User, method: str, path: str, body: Any = None) -> Response:
    return call(method, path, token_for(user), body)


def mailbox_body(**overrides: Any) -> dict[str, Any]:
    """A valid new-mailbox body; pass fields to change it."""
    body: dict[str, Any] = {
        "label": "Sales",
        "email": "sales@acme.example.com",
        "imap_host": "imap.acme.example.com",
        "username": "sales",
        "password": "imap-Secret-for-Sales-7",
    }
    body.update(overrides)
    return body
