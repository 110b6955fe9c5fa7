"""Who is acting right now, for the audit log: set once per web request, API call or command, and read
where a change is recorded, so domain code does not pass the user around just to log it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from django.http import HttpRequest, HttpResponse

from postroom.accounts.models import User


@dataclass(frozen=True)
class Actor:
    user: User | None
    label: str


SYSTEM = Actor(None, "system")

_label: ContextVar[str | None] = ContextVar("audit_actor_label", default=None)
_request: ContextVar[HttpRequest | None] = ContextVar("audit_request", default=None)


@contextmanager
def acting_as(label: str) -> Iterator[None]:
    """Attribute changes made inside to `label` (e.g. "cli: config import") when no user is logged in."""
    token = _label.set(label)
    try:
        yield
    finally:
        _label.reset(token)


def current_actor() -> Actor:
    request = _request.get()
    if request is not None:
        # The API authenticates inside the view (request.auth), the web UI in middleware (request.user).
        user = getattr(request, "auth", None) or getattr(request, "user", None)
        channel = "api" if request.path.startswith("/api/") else "web"
        if isinstance(user, User) and user.is_authenticated:
            return Actor(user, f"{user.email} ({channel})")
        return Actor(None, channel)
    label = _label.get()
    return Actor(None, label) if label else SYSTEM


class RequestActorMiddleware:
    """Makes the request's user the actor of every change recorded while the request is served."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        token = _request.set(request)
        try:
            return self.get_response(request)
        finally:
            _request.reset(token)
