"""Members of an organization, their roles and admin flag (organization admins only).

An organization always keeps at least one admin: demoting or removing the last one is a 409. The admin
rows are locked while checking, so two admins removing each other at once cannot both succeed.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from ninja import Router, Status

from postroom.accounts.models import User
from postroom.api.errors import Conflict, FieldErrors
from postroom.api.schemas import MemberIn, MemberOut, MemberPatch, responses
from postroom.api.tenancy import open_org
from postroom.organizations.members import ALREADY_MEMBER, is_last_admin, is_member
from postroom.organizations.models import Membership, Organization, Role

router = Router(tags=["members"])

LAST_ADMIN = "This is the last admin of the organization. Make someone else an admin first."


def member_out(membership: Membership) -> MemberOut:
    return MemberOut(
        user_id=membership.user_id,
        email=membership.user.email,
        full_name=membership.user.full_name,
        is_admin=membership.is_admin,
        roles=sorted(role.pk for role in membership.roles.all()),
    )


def _membership(organization: Organization, user_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user"), user_id=user_id, organization=organization
    )


def _roles_of(organization: Organization, ids: Iterable[int]) -> list[Role]:
    """The roles with these ids, all of which must belong to `organization` (else a 422 naming them)."""
    wanted = set(ids)
    roles = list(Role.objects.filter(organization=organization, pk__in=wanted))
    unknown = sorted(wanted - {role.pk for role in roles})
    if unknown:
        raise FieldErrors.single("roles", f"Unknown role ids: {', '.join(map(str, unknown))}.")
    return roles


def _new_user(payload: MemberIn, email: str) -> User:
    """Create the user named by a POST for an unknown email, after checking the password."""
    full_name = payload.full_name.strip()
    if len(full_name) > 200:
        raise FieldErrors.single("full_name", "Use at most 200 characters.")
    if payload.password:
        try:
            validate_password(payload.password, user=User(email=email, full_name=full_name))
        except ValidationError as error:
            raise FieldErrors({"password": list(error.messages)}) from None
    # Without a password the account exists but cannot log in until someone sets one.
    return User.objects.create_user(email, payload.password or None, full_name=full_name)


def _checked_email(organization: Organization, raw: str) -> str:
    email = raw.strip().lower()
    try:
        validate_email(email)
    except ValidationError:
        raise FieldErrors.single("email", "Enter a valid email address.") from None
    if is_member(organization, email):
        raise FieldErrors.single("email", ALREADY_MEMBER)
    return email


@router.get("/orgs/{slug}/members", response=responses({200: list[MemberOut]}), summary="List members")
def list_members(request: HttpRequest, slug: str) -> list[MemberOut]:
    access = open_org(request, slug, "admin")
    members = (
        Membership.objects.filter(organization=access.organization)
        .select_related("user")
        .prefetch_related("roles")
        .order_by("user__email")
    )
    return [member_out(membership) for membership in members]


@router.post(
    "/orgs/{slug}/members",
    response=responses({201: MemberOut}, validation=True),
    summary="Add a member (creating the user when the email is new)",
)
def add_member(request: HttpRequest, slug: str, payload: MemberIn) -> Status[MemberOut]:
    access = open_org(request, slug, "admin")
    organization = access.organization
    email = _checked_email(organization, payload.email)
    roles = _roles_of(organization, payload.roles)
    with transaction.atomic():
        user = User.objects.filter(email__iexact=email).first()
        if user is None:
            user = _new_user(payload, email)
        elif payload.password:
            # An admin of one organization must not reset the password of a person who may belong to others.
            raise FieldErrors.single("password", "This user already exists; their password is not set here.")
        membership = Membership.objects.create(
            user=user, organization=organization, is_admin=payload.is_admin
        )
        membership.roles.set(roles)
    return Status(201, member_out(membership))


@router.get("/orgs/{slug}/members/{user_id}", response=responses({200: MemberOut}), summary="One member")
def get_member(request: HttpRequest, slug: str, user_id: int) -> MemberOut:
    access = open_org(request, slug, "admin")
    return member_out(_membership(access.organization, user_id))


@router.patch(
    "/orgs/{slug}/members/{user_id}",
    response=responses({200: MemberOut}, validation=True, conflict=True),
    summary="Change a member's roles or admin flag",
)
def update_member(request: HttpRequest, slug: str, user_id: int, payload: MemberPatch) -> MemberOut:
    access = open_org(request, slug, "admin")
    membership = _membership(access.organization, user_id)
    roles = _roles_of(access.organization, payload.roles) if payload.roles is not None else None
    with transaction.atomic():
        if payload.is_admin is not None and payload.is_admin != membership.is_admin:
            if not payload.is_admin and is_last_admin(membership):
                raise Conflict(LAST_ADMIN)
            membership.is_admin = payload.is_admin
            membership.save(update_fields=["is_admin"])
        if roles is not None:
            membership.roles.set(roles)
    return member_out(membership)


@router.delete(
    "/orgs/{slug}/members/{user_id}",
    response=responses({204: None}, conflict=True),
    summary="Remove a member from the organization (the user account stays)",
)
def remove_member(request: HttpRequest, slug: str, user_id: int) -> Status[None]:
    access = open_org(request, slug, "admin")
    membership = _membership(access.organization, user_id)
    with transaction.atomic():
        if is_last_admin(membership):
            raise Conflict(LAST_ADMIN)
        membership.delete()
    return Status(204, None)
