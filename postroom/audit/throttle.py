"""Limits on guessing: after too many failed log-ins for one account or from one address, or too many
refused API tokens from one address, within the window, further attempts are refused until the oldest
failure leaves the window."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from django.db.models import Min
from django.http import HttpRequest
from django.utils import timezone

from postroom.audit.models import LoginFailure

WINDOW = timedelta(minutes=15)
# Per account: a person mistyping does not reach 5. Per address: an office behind one NAT shares it.
LIMITS = {"account": 5, "ip": 20, "token-ip": 20}


def wait_minutes(scope: str, key: str) -> int:
    """Whole minutes until `key` may try again in `scope`; 0 when it may now."""
    if not key:
        return 0
    now = timezone.now()
    recent = LoginFailure.objects.filter(scope=scope, key=key, at__gte=now - WINDOW)
    if recent.count() < LIMITS[scope]:
        return 0
    oldest: datetime = recent.aggregate(first=Min("at"))["first"]
    return max(1, math.ceil((oldest + WINDOW - now).total_seconds() / 60))


def record_failure(scope: str, key: str) -> None:
    if key:
        LoginFailure.objects.filter(at__lt=timezone.now() - WINDOW).delete()  # keep the table small
        LoginFailure.objects.create(scope=scope, key=key)


def forget(scope: str, key: str) -> None:
    """A successful log-in clears the account's failures (not the address's)."""
    LoginFailure.objects.filter(scope=scope, key=key).delete()


def client_address(request: HttpRequest) -> str:
    # REMOTE_ADDR only: X-Forwarded-For is set by whoever sends the request, so counting by it would let
    # a guesser pick a fresh address for every attempt.
    return str(request.META.get("REMOTE_ADDR") or "")
