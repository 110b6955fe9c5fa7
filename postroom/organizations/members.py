"""The checks on an organization's members and roles that the web forms and the API both make, with the
messages both show. Each caller turns a failed check into its own kind of error (a form error, a 422, a
409)."""

from __future__ import annotations

from postroom.organizations.models import Membership, Organization, Role

ALREADY_MEMBER = "This user is already a member of the organization."
ROLE_NAME_TAKEN = "This organization already has a role with this name."


def is_member(organization: Organization, email: str) -> bool:
    """Whether the user with this email (any case) already belongs to `organization`."""
    return Membership.objects.filter(organization=organization, user__email__iexact=email).exists()


def role_name_taken(organization: Organization, name: str, role: Role | None = None) -> bool:
    """Whether another role of `organization` than `role` has this name, ignoring case (as the unique
    constraint does)."""
    clash = Role.objects.filter(organization=organization, name__iexact=name)
    if role is not None and role.pk is not None:
        clash = clash.exclude(pk=role.pk)
    return clash.exists()


def is_last_admin(membership: Membership) -> bool:
    """Whether `membership` is its organization's only admin. Inside a transaction the admin rows are
    locked, so two admins removing each other at once cannot leave the organization without one."""
    if not membership.is_admin:
        return False
    admins = Membership.objects.select_for_update().filter(
        organization_id=membership.organization_id, is_admin=True
    )
    return [admin.pk for admin in admins] == [membership.pk]
