"""The caller, organizations, roles and members over the API."""

from __future__ import annotations

import pytest

from postroom.accounts.models import User
from postroom.organizations.models import Membership, Organization, Role
from tests.api_helpers import as_user
from tests.conftest import Cast
from tests.factories import make_role, make_user

STRONG = "a-Long-unusual-pw-93"


def test_me_lists_the_callers_organizations_and_permissions(cast: Cast) -> None:
    data = as_user(cast.configurer, "GET", "/me").json()
    assert (data["email"], data["is_platform_admin"]) == ("mailadmin@acme.example", False)
    assert [(o["slug"], o["is_admin"], o["can_configure"]) for o in data["organizations"]] == [
        ("acme", False, True)
    ]


def test_org_list_shows_only_the_users_organizations(cast: Cast) -> None:
    assert [o["slug"] for o in as_user(cast.outsider, "GET", "/orgs").json()] == ["globex"]
    assert [o["slug"] for o in as_user(cast.platform_admin, "GET", "/orgs").json()] == ["acme", "globex"]


def test_platform_admin_creates_organization(cast: Cast) -> None:
    response = as_user(cast.platform_admin, "POST", "/orgs", {"slug": "initech", "name": "Initech"})
    assert response.status_code == 201
    assert Organization.objects.filter(slug="initech", name="Initech").exists()


@pytest.mark.parametrize("slug", ["acme", "Bad Slug", "-dash", ""])
def test_org_with_duplicate_or_invalid_slug_is_422(cast: Cast, slug: str) -> None:
    response = as_user(cast.platform_admin, "POST", "/orgs", {"slug": slug, "name": "X"})
    assert response.status_code == 422
    assert list(response.json()["errors"]) == ["slug"]
    assert Organization.objects.count() == 2


def test_role_name_is_unique_per_organization_ignoring_case(cast: Cast) -> None:
    response = as_user(cast.org_admin, "POST", "/orgs/acme/roles", {"name": "sUPPORT"})
    assert response.status_code == 422
    assert response.json()["errors"]["name"] == ["This organization already has a role with this name."]
    other = as_user(cast.outsider, "POST", "/orgs/globex/roles", {"name": "Support"})
    assert other.status_code == 201


def test_renaming_a_role_onto_another_is_422_and_changes_nothing(cast: Cast) -> None:
    path = f"/orgs/acme/roles/{cast.configurer_role.pk}"
    response = as_user(cast.org_admin, "PATCH", path, {"name": "support", "can_configure": False})
    assert response.status_code == 422
    cast.configurer_role.refresh_from_db()
    assert (cast.configurer_role.name, cast.configurer_role.can_configure) == ("Mail Admin", True)


def test_role_patch_changes_only_given_fields(cast: Cast) -> None:
    path = f"/orgs/acme/roles/{cast.support_role.pk}"
    data = as_user(cast.org_admin, "PATCH", path, {"can_configure": True}).json()
    assert (data["name"], data["can_configure"]) == ("Support", True)


def test_new_member_gets_a_user_with_the_given_password(cast: Cast) -> None:
    body = {
        "email": "New@Acme.example",
        "full_name": "New",
        "password": STRONG,
        "roles": [cast.support_role.pk],
    }
    response = as_user(cast.org_admin, "POST", "/orgs/acme/members", body)
    assert response.status_code == 201, response.content
    user = User.objects.get(email="new@acme.example")
    assert user.check_password(STRONG)
    assert response.json() == {
        "user_id": user.pk,
        "email": "new@acme.example",
        "full_name": "New",
        "is_admin": False,
        "roles": [cast.support_role.pk],
    }
    assert STRONG.encode() not in response.content


def test_new_member_without_password_cannot_log_in_yet(cast: Cast) -> None:
    response = as_user(cast.org_admin, "POST", "/orgs/acme/members", {"email": "np@acme.example"})
    assert response.status_code == 201
    assert not User.objects.get(email="np@acme.example").has_usable_password()


@pytest.mark.parametrize("password", ["Xq7!z", "password123", "12345678901"])
def test_weak_password_for_new_member_is_422(cast: Cast, password: str) -> None:
    body = {"email": "weak@acme.example", "password": password}
    response = as_user(cast.org_admin, "POST", "/orgs/acme/members", body)
    assert response.status_code == 422
    assert "password" in response.json()["errors"]
    assert password.encode() not in response.content
    assert not User.objects.filter(email="weak@acme.example").exists()


def test_existing_user_joins_without_their_password_changing(cast: Cast) -> None:
    body = {"email": cast.outsider.email}
    assert as_user(cast.org_admin, "POST", "/orgs/acme/members", body).status_code == 201
    assert Membership.objects.filter(user=cast.outsider, organization=cast.acme).exists()
    steal = make_user("victim@elsewhere.example")
    response = as_user(
        cast.org_admin, "POST", "/orgs/acme/members", {"email": steal.email, "password": STRONG}
    )
    assert response.status_code == 422
    assert not steal.memberships.exists()
    steal.refresh_from_db()
    assert not steal.check_password(STRONG)


def test_adding_an_existing_member_again_is_422(cast: Cast) -> None:
    response = as_user(cast.org_admin, "POST", "/orgs/acme/members", {"email": "AGENT@acme.example"})
    assert response.status_code == 422
    assert "email" in response.json()["errors"]


def test_member_roles_from_another_organization_are_refused(cast: Cast) -> None:
    foreign = make_role(cast.globex, "Globex Sales")
    new = as_user(
        cast.org_admin, "POST", "/orgs/acme/members", {"email": "f@acme.example", "roles": [foreign.pk]}
    )
    assert new.status_code == 422
    assert "roles" in new.json()["errors"]
    assert not User.objects.filter(email="f@acme.example").exists()
    path = f"/orgs/acme/members/{cast.member.pk}"
    changed = as_user(cast.org_admin, "PATCH", path, {"roles": [foreign.pk], "is_admin": True})
    assert changed.status_code == 422
    membership = Membership.objects.get(user=cast.member, organization=cast.acme)
    assert (list(membership.roles.all()), membership.is_admin) == ([cast.support_role], False)


def test_last_admin_cannot_be_demoted_or_removed(cast: Cast) -> None:
    path = f"/orgs/acme/members/{cast.org_admin.pk}"
    demote = as_user(cast.org_admin, "PATCH", path, {"is_admin": False})
    assert demote.status_code == 409
    assert as_user(cast.org_admin, "DELETE", path).status_code == 409
    assert Membership.objects.get(user=cast.org_admin, organization=cast.acme).is_admin


def test_admin_can_step_down_once_another_admin_exists(cast: Cast) -> None:
    promote = as_user(cast.org_admin, "PATCH", f"/orgs/acme/members/{cast.member.pk}", {"is_admin": True})
    assert promote.json()["is_admin"] is True
    assert as_user(cast.org_admin, "DELETE", f"/orgs/acme/members/{cast.org_admin.pk}").status_code == 204
    assert not Membership.objects.filter(user=cast.org_admin, organization=cast.acme).exists()
    assert User.objects.filter(pk=cast.org_admin.pk).exists()


def test_deleting_a_role_removes_it_from_members(cast: Cast) -> None:
    assert as_user(cast.org_admin, "DELETE", f"/orgs/acme/roles/{cast.support_role.pk}").status_code == 204
    assert not Role.objects.filter(pk=cast.support_role.pk).exists()
    assert not Membership.objects.get(user=cast.member, organization=cast.acme).roles.exists()
