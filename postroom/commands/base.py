"""What every command group shares: the error types that map to exit codes, and small helpers for
reading secrets from stdin, finding an organization, and printing JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Iterable
from typing import Any, TypeAlias

from django.core.exceptions import ValidationError
from django.core.validators import validate_email

from postroom.accounts.models import User
from postroom.organizations.models import Organization

# The object `add_subparsers` returns: what each group's `register` adds its parsers to.
Subcommands: TypeAlias = "argparse._SubParsersAction[argparse.ArgumentParser]"


class UsageError(Exception):
    """The caller's mistake: bad input, unknown name, duplicate. Exit code 2."""


class FieldErrors(UsageError):
    """Validation failed field by field; printed as one "field: message" line each."""

    def __init__(self, errors: Iterable[tuple[str, str]]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(f"{field}: {message}" for field, message in self.errors))


class CommandFailed(Exception):
    """Something other than the caller's input went wrong, and we can say what. Exit code 1."""


def read_secret_from_stdin(what: str = "password") -> str:
    """One line from stdin without its line ending. The value is never echoed, printed or logged."""
    line = sys.stdin.readline()
    secret = line.rstrip("\r\n")
    if not secret:
        raise UsageError(f'no {what} on stdin (pipe it in, e.g. `printf %s "$PW" | postroom ...`)')
    return secret


def organization(slug: str) -> Organization:
    found = Organization.objects.filter(slug=slug).first()
    if found is None:
        raise UsageError(f"no organization with slug {slug!r}")
    return found


def checked_email(value: str, field: str = "email") -> str:
    email = value.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise FieldErrors([(field, f"{value!r} is not a valid email address")]) from None
    return email


def member(org: Organization, email: str, field: str) -> User:
    """An active member of `org` with this address, else a field error naming `field`."""
    user = User.objects.filter(
        email__iexact=email.strip(), memberships__organization=org, is_active=True
    ).first()
    if user is None:
        raise FieldErrors([(field, f"{email} is not a member of {org.slug}")])
    return user


def print_json(document: Any) -> None:
    """One JSON document on one line (for lists: call once per object)."""
    print(json.dumps(document, sort_keys=True, default=str))
