"""Bearer-token authentication for the API. Only tokens: no session cookie, so no CSRF to worry about."""

from __future__ import annotations

from django.http import HttpRequest
from ninja.security import HttpBearer

from postroom.accounts.models import ApiToken, User


class TokenAuth(HttpBearer):
    """`Authorization: Bearer <token>`; a token of a deactivated user is as good as none (401)."""

    def authenticate(self, request: HttpRequest, token: str) -> User | None:
        return ApiToken.authenticate(token) if token else None


def caller(request: HttpRequest) -> User:
    """The user the request's token belongs to (authentication has already run)."""
    user = getattr(request, "auth", None)
    if not isinstance(user, User):  # only reachable if an endpoint were mounted without auth
        raise RuntimeError("API endpoint reached without an authenticated user")
    return user
