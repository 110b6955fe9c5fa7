"""Bearer-token authentication for the API. Only tokens: no session cookie, so no CSRF to worry about."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.errors import HttpError
from ninja.security import HttpBearer

from postroom.accounts.models import ApiToken, User
from postroom.audit import throttle


class TokenAuth(HttpBearer):
    """`Authorization: Bearer <token>`; a token of a deactivated user is as good as none (401)."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        # Tokens are too long to guess, but an address that keeps sending wrong ones is refused for a while.
        address = throttle.client_address(request)
        wait = throttle.wait_minutes("token-ip", address)
        if wait:
            raise HttpError(429, f"Too many refused tokens from this address. Try again in {wait} minutes.")
        user = ApiToken.authenticate(token) if token else None
        if user is None:
            throttle.record_failure("token-ip", address)
        return user


def caller(request: HttpRequest) -> User:
    """The user the request's token belongs to (authentication has already run)."""
    user = getattr(request, "auth", None)
    if not isinstance(user, User):  # only reachable if an endpoint were mounted without auth
        raise RuntimeError("API endpoint reached without an authenticated user")
    return user
