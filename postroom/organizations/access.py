"""The one way into an organization's data. Views and API endpoints call these helpers with the request's
user; anything outside the user's organizations is a 404, so a caller cannot learn that it exists.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404

from postroom.accounts.models import User
from postroom.organizations.models import Membership, Organization


@dataclass(frozen=True)
class OrgAccess:
    """What one user may do in one organization."""

    user: User
    organization: Organization
    membership: Membership | None  # None for a platform admin who is not a member

    @property
    def is_admin(self) -> bool:
        """Organization admin (or platform admin): manages users and roles too."""
        return self.user.is_platform_admin or bool(self.membership and self.membership.is_admin)

    @property
    def can_configure(self) -> bool:
        """May configure mailboxes, rules, templates, lead sources."""
        if self.is_admin:
            return True
        assert self.membership is not None  # is_admin covers the non-member platform admin
        return self.membership.roles.filter(can_configure=True).exists()

    def require_configure(self) -> None:
        if not self.can_configure:
            raise PermissionDenied("You may not configure this organization.")

    def require_admin(self) -> None:
        if not self.is_admin:
            raise PermissionDenied("Only organization admins may do this.")


def organizations_for(user: User) -> QuerySet[Organization]:
    """Every organization `user` may open: all of them for a platform admin, else their memberships."""
    if not user.is_active:
        return Organization.objects.none()
    if user.is_platform_admin:
        return Organization.objects.all()
    return Organization.objects.filter(memberships__user=user).distinct()


def org_access(user: User, slug: str) -> OrgAccess:
    """The user's access to the organization `slug`, or Http404 when they have none."""
    if not user.is_active:
        raise Http404("No such organization.")
    membership = (
        Membership.objects.select_related("organization").filter(user=user, organization__slug=slug).first()
    )
    if membership is not None:
        return OrgAccess(user, membership.organization, membership)
    if user.is_platform_admin:
        organization = Organization.objects.filter(slug=slug).first()
        if organization is not None:
            return OrgAccess(user, organization, None)
    raise Http404("No such organization.")
