"""The API's door into an organization: every organization-scoped endpoint starts here.

The order is the contract: an outsider gets 404 before anything else (the organization's existence is not
revealed), a member lacking the permission gets 403, and only then is the object looked up - always with
the organization in the query, so an id from another organization is a 404 too.
"""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest

from postroom.api.auth import caller
from postroom.organizations.access import OrgAccess, org_access

Need = Literal["member", "configure", "admin"]


def open_org(request: HttpRequest, slug: str, need: Need) -> OrgAccess:
    """The caller's access to organization `slug`: Http404 for outsiders, PermissionDenied if `need` fails."""
    access = org_access(caller(request), slug)
    if need == "configure":
        access.require_configure()
    elif need == "admin":
        access.require_admin()
    return access
