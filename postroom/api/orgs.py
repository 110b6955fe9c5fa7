"""Who am I, and the organizations I may open (creating one is for platform admins)."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from ninja import Router, Status

from postroom.accounts.models import User
from postroom.api.auth import caller
from postroom.api.errors import FieldErrors
from postroom.api.schemas import MeOut, MyOrgOut, OrgIn, responses
from postroom.api.tenancy import open_org
from postroom.organizations.access import OrgAccess, organizations_for
from postroom.organizations.models import Membership, Organization, slug_validator

router = Router(tags=["organizations"])


def org_out(user: User, organization: Organization, membership: Membership | None) -> MyOrgOut:
    access = OrgAccess(user, organization, membership)
    return MyOrgOut(
        id=organization.pk,
        slug=organization.slug,
        name=organization.name,
        is_admin=access.is_admin,
        can_configure=access.can_configure,
    )


def _orgs_of(user: User) -> list[MyOrgOut]:
    memberships = {m.organization_id: m for m in Membership.objects.filter(user=user)}
    return [org_out(user, org, memberships.get(org.pk)) for org in organizations_for(user).order_by("slug")]


@router.get(
    "/me",
    response=responses({200: MeOut}, tenant=False, forbidden=False),
    summary="The caller and their organizations",
)
def me(request: HttpRequest) -> MeOut:
    user = caller(request)
    return MeOut(
        id=user.pk,
        email=user.email,
        full_name=user.full_name,
        is_platform_admin=user.is_platform_admin,
        organizations=_orgs_of(user),
    )


@router.get(
    "/orgs",
    response=responses({200: list[MyOrgOut]}, tenant=False, forbidden=False),
    summary="Organizations the caller may open",
)
def list_orgs(request: HttpRequest) -> list[MyOrgOut]:
    return _orgs_of(caller(request))


def _checked_org(payload: OrgIn) -> tuple[str, str]:
    slug, name = payload.slug.strip(), payload.name.strip()
    errors: dict[str, list[str]] = {}
    try:
        slug_validator(slug)
    except ValidationError as error:
        errors["slug"] = list(error.messages)
    if not name:
        errors["name"] = ["Enter the organization's name."]
    elif len(name) > 200:
        errors["name"] = ["Use at most 200 characters."]
    if "slug" not in errors and Organization.objects.filter(slug=slug).exists():
        errors["slug"] = ["An organization with this slug already exists."]
    if errors:
        raise FieldErrors(errors)
    return slug, name


@router.post(
    "/orgs",
    response=responses({201: MyOrgOut}, tenant=False, validation=True),
    summary="Create an organization (platform admins only)",
)
def create_org(request: HttpRequest, payload: OrgIn) -> Status[MyOrgOut]:
    user = caller(request)
    if not user.is_platform_admin:
        raise PermissionDenied("Only platform admins may create organizations.")
    slug, name = _checked_org(payload)
    try:
        with transaction.atomic():
            organization = Organization.objects.create(slug=slug, name=name)
    except IntegrityError:  # a concurrent request took the slug
        raise FieldErrors.single("slug", "An organization with this slug already exists.") from None
    return Status(201, org_out(user, organization, None))


@router.get("/orgs/{slug}", response=responses({200: MyOrgOut}, forbidden=False), summary="One organization")
def get_org(request: HttpRequest, slug: str) -> MyOrgOut:
    access = open_org(request, slug, "member")
    return org_out(access.user, access.organization, access.membership)
