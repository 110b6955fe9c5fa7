"""View guards. Every organization-scoped view is wrapped by `org_view`, which resolves the organization
through `org_access` (404 for outsiders) and checks the permission (403) before the view body runs, so a
view cannot touch data it should not see.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import update_wrapper
from typing import Concatenate, Literal, ParamSpec

from django.contrib.auth.views import redirect_to_login
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, QueryDict
from django.http.response import HttpResponseBase

from postroom.accounts.models import User
from postroom.organizations.access import OrgAccess, org_access

P = ParamSpec("P")
Permission = Literal["member", "configure", "admin"]
# HttpResponseBase: a view may stream (a download is a StreamingHttpResponse).
OrgView = Callable[Concatenate[HttpRequest, OrgAccess, P], HttpResponseBase]
# Django passes the URL's slug by keyword, so the wrapped view cannot be typed positional-only.
SlugView = Callable[..., HttpResponseBase]

LAST_ORG_SESSION_KEY = "postroom_last_org"


def current_user(request: HttpRequest) -> User:
    """The logged-in user; only call behind login_required."""
    user = request.user
    assert isinstance(user, User)
    return user


def remember_organization(request: HttpRequest, access: OrgAccess) -> None:
    """Remember the organization the user works in, so / brings them back to it."""
    request.session[LAST_ORG_SESSION_KEY] = access.organization.slug


def org_view(permission: Permission) -> Callable[[OrgView[P]], SlugView]:
    """Wrap a view taking (request, access, ...) into one taking (request, slug, ...).

    Anonymous -> login redirect; no access to the organization -> 404; lacking `permission` -> 403.
    """

    def decorator(view: OrgView[P]) -> SlugView:
        def wrapper(request: HttpRequest, slug: str, *args: P.args, **kwargs: P.kwargs) -> HttpResponseBase:
            if not request.user.is_authenticated:
                return redirect_to_login(request.get_full_path())
            access = org_access(current_user(request), slug)
            if permission == "configure":
                access.require_configure()
            elif permission == "admin":
                access.require_admin()
            return view(request, access, *args, **kwargs)

        update_wrapper(wrapper, view)
        return wrapper

    return decorator


def require_platform_admin(request: HttpRequest) -> None:
    if not current_user(request).is_platform_admin:
        raise PermissionDenied("Only platform admins may do this.")


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def posted(request: HttpRequest) -> QueryDict | None:
    """The POST data for a bound form, or None on GET. (`request.POST or None` would leave a form unbound
    when every checkbox is unticked and nothing else is sent.)
    """
    return request.POST if request.method == "POST" else None
