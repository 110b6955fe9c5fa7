"""Template context shared by every page: the organizations the user may switch between, and the
mailboxes of the current organization that are failing (the navigation's badge)."""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest
from django.utils.functional import SimpleLazyObject

from postroom.accounts.models import User
from postroom.mailboxes.access import visible_mailboxes
from postroom.mailboxes.models import Mailbox
from postroom.organizations.access import org_access, organizations_for
from postroom.sync.status import failing_mailboxes


def navigation(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated:
        return {}
    return {
        "switchable_organizations": organizations_for(user),
        # Lazy: only organization pages render the badge, and only they pay its queries.
        "failing_mailboxes": SimpleLazyObject(lambda: _failing_mailboxes(request, user)),
    }


def _failing_mailboxes(request: HttpRequest, user: User) -> list[Mailbox]:
    """Failing mailboxes of the organization in the URL that the user may read (none elsewhere)."""
    match = request.resolver_match
    slug = match.kwargs.get("slug") if match is not None else None
    if not slug:
        return []
    try:
        access = org_access(user, slug)
    except Http404:
        return []
    return failing_mailboxes(visible_mailboxes(access))
