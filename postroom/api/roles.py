"""Roles of an organization. Reading them needs the configure permission (mailbox access lists name
roles); changing them is for organization admins. Names are unique per organization, ignoring case.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Status

from postroom.api.errors import FieldErrors
from postroom.api.schemas import RoleIn, RoleOut, RolePatch, responses
from postroom.api.tenancy import open_org
from postroom.organizations.members import ROLE_NAME_TAKEN, role_name_taken
from postroom.organizations.models import Organization, Role

router = Router(tags=["roles"])


def role_out(role: Role) -> RoleOut:
    return RoleOut(id=role.pk, name=role.name, description=role.description, can_configure=role.can_configure)


def _role(organization: Organization, role_id: int) -> Role:
    return get_object_or_404(Role, pk=role_id, organization=organization)


def _check(organization: Organization, role: Role) -> None:
    """Raise FieldErrors unless `role` (new or changed, not yet saved) may be saved."""
    errors: dict[str, list[str]] = {}
    if not role.name:
        errors["name"] = ["Enter the role's name."]
    elif len(role.name) > 100:
        errors["name"] = ["Use at most 100 characters."]
    elif role_name_taken(organization, role.name, role):
        errors["name"] = [ROLE_NAME_TAKEN]
    if len(role.description) > 300:
        errors["description"] = ["Use at most 300 characters."]
    if errors:
        raise FieldErrors(errors)


def _save(organization: Organization, role: Role) -> Role:
    _check(organization, role)
    try:
        with transaction.atomic():
            role.save()
    except IntegrityError:  # a concurrent request took the name
        raise FieldErrors.single("name", ROLE_NAME_TAKEN) from None
    return role


@router.get("/orgs/{slug}/roles", response=responses({200: list[RoleOut]}), summary="List roles")
def list_roles(request: HttpRequest, slug: str) -> list[RoleOut]:
    access = open_org(request, slug, "configure")
    return [role_out(role) for role in Role.objects.filter(organization=access.organization)]


@router.post("/orgs/{slug}/roles", response=responses({201: RoleOut}, validation=True), summary="Add a role")
def create_role(request: HttpRequest, slug: str, payload: RoleIn) -> Status[RoleOut]:
    access = open_org(request, slug, "admin")
    role = Role(
        organization=access.organization,
        name=payload.name.strip(),
        description=payload.description.strip(),
        can_configure=payload.can_configure,
    )
    return Status(201, role_out(_save(access.organization, role)))


@router.get("/orgs/{slug}/roles/{role_id}", response=responses({200: RoleOut}), summary="One role")
def get_role(request: HttpRequest, slug: str, role_id: int) -> RoleOut:
    access = open_org(request, slug, "configure")
    return role_out(_role(access.organization, role_id))


@router.patch(
    "/orgs/{slug}/roles/{role_id}",
    response=responses({200: RoleOut}, validation=True),
    summary="Change a role",
)
def update_role(request: HttpRequest, slug: str, role_id: int, payload: RolePatch) -> RoleOut:
    access = open_org(request, slug, "admin")
    role = _role(access.organization, role_id)
    if payload.name is not None:
        role.name = payload.name.strip()
    if payload.description is not None:
        role.description = payload.description.strip()
    if payload.can_configure is not None:
        role.can_configure = payload.can_configure
    return role_out(_save(access.organization, role))


@router.delete("/orgs/{slug}/roles/{role_id}", response=responses({204: None}), summary="Delete a role")
def delete_role(request: HttpRequest, slug: str, role_id: int) -> Status[None]:
    access = open_org(request, slug, "admin")
    _role(access.organization, role_id).delete()
    return Status(204, None)
