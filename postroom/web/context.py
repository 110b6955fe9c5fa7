"""Template context shared by every page: the organizations the user may switch between."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from postroom.organizations.access import organizations_for


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {"switchable_organizations": organizations_for(user)}
