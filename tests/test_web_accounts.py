"""Logging in and out, the organization switcher, organizations, users, roles and API tokens."""

from __future__ import annotations

from django.contrib.auth import SESSION_KEY
from django.test import Client
from django.urls import reverse

from postroom.accounts.models import ApiToken, User
from postroom.organizations.models import Membership, Organization, Role
from tests.conftest import Cast
from tests.factories import PASSWORD, make_mailbox
from tests.web_support import client_for


def org_url(name: str, **kwargs: object) -> str:
    return reverse(name, kwargs={"slug": "acme", **kwargs})


# --- Login, logout, home, switcher -----------------------------------------------------------------------


def test_login_with_email_and_password_then_logout(cast: Cast) -> None:
    client = Client()
    page = client.get(reverse("login")).content.decode()
    assert '<label for="id_username">Email' in page
    response = client.post(reverse("login"), {"username": "AGENT@acme.example", "password": PASSWORD})
    assert response.status_code == 302
    assert client.session[SESSION_KEY] == str(cast.member.pk)
    assert client.get(reverse("logout")).status_code == 405  # GET must not log out
    response = client.post(reverse("logout"))
    assert response.status_code == 302 and response["Location"] == reverse("login")
    assert SESSION_KEY not in client.session


def test_login_with_a_wrong_password_is_refused(cast: Cast) -> None:
    client = Client()
    response = client.post(reverse("login"), {"username": cast.member.email, "password": "wrong"})
    assert response.status_code == 200
    assert SESSION_KEY not in client.session
    assert "correct email and password" in response.content.decode()


def test_login_honours_next(cast: Cast) -> None:
    target = org_url("org-home")
    response = Client().post(
        reverse("login") + f"?next={target}",
        {"username": cast.member.email, "password": PASSWORD, "next": target},
    )
    assert response["Location"] == target


def test_home_goes_to_the_organization_list_then_to_the_last_used_one(cast: Cast) -> None:
    client = client_for(cast.platform_admin)
    assert client.get(reverse("home"))["Location"] == reverse("organizations")
    response = client.get(reverse("switch") + "?org=globex")
    assert response["Location"] == reverse("org-home", kwargs={"slug": "globex"})
    assert client.get(reverse("home"))["Location"] == reverse("org-home", kwargs={"slug": "globex"})
    client.get(org_url("org-home"))  # opening an organization also remembers it
    assert client.get(reverse("home"))["Location"] == org_url("org-home")


def test_home_forgets_an_organization_the_user_left(cast: Cast) -> None:
    client = client_for(cast.member)
    client.get(reverse("switch") + "?org=acme")
    Membership.objects.filter(user=cast.member).delete()
    assert client.get(reverse("home"))["Location"] == reverse("organizations")


def test_switcher_lists_only_the_users_organizations(cast: Cast) -> None:
    Membership.objects.create(user=cast.member, organization=cast.globex)
    only_acme = client_for(cast.loner).get(org_url("org-home")).content.decode()
    assert 'action="/switch/"' in only_acme
    assert '<option value="acme" selected>Acme Inc.</option>' in only_acme
    assert "Globex" not in only_acme
    both = client_for(cast.member).get(org_url("org-home")).content.decode()
    assert '<option value="globex">Globex Corp.</option>' in both


def test_organization_list_shows_only_the_users_organizations(cast: Cast) -> None:
    body = client_for(cast.outsider).get(reverse("organizations")).content.decode()
    assert "Globex Corp." in body and "Acme Inc." not in body
    assert "Create Organization" not in body
    assert (
        "Create Organization"
        in client_for(cast.platform_admin).get(reverse("organizations")).content.decode()
    )


def test_platform_admin_creates_an_organization(cast: Cast) -> None:
    response = client_for(cast.platform_admin).post(
        reverse("organization-new"), {"name": "Initech", "slug": "initech"}
    )
    assert response["Location"] == reverse("org-home", kwargs={"slug": "initech"})
    assert Organization.objects.filter(slug="initech", name="Initech").exists()


def test_organization_with_a_bad_slug_is_refused(cast: Cast) -> None:
    response = client_for(cast.platform_admin).post(
        reverse("organization-new"), {"name": "X", "slug": "-Bad-"}
    )
    assert response.status_code == 200 and "slug" in response.context["form"].errors
    assert not Organization.objects.filter(name="X").exists()


def test_nav_shows_links_by_permission(cast: Cast) -> None:
    member = client_for(cast.member).get(org_url("org-home")).content.decode()
    assert "Configuration</a>" not in member and "Users</a>" not in member and "API tokens" in member
    configurer = client_for(cast.configurer).get(org_url("org-home")).content.decode()
    assert "Configuration</a>" in configurer and "Roles</a>" not in configurer
    admin = client_for(cast.org_admin).get(org_url("org-home")).content.decode()
    assert "Users</a>" in admin and "Roles</a>" in admin and "Log out" in admin


def test_forbidden_page_is_rendered(cast: Cast) -> None:
    response = client_for(cast.member).get(org_url("email-configuration"))
    assert response.status_code == 403
    assert "You may not configure this organization." in response.content.decode()


# --- Users -----------------------------------------------------------------------------------------------


def test_add_a_new_user_with_roles_and_a_valid_password(cast: Cast) -> None:
    data = {
        "email": "New.Person@Acme.example",
        "full_name": "New Person",
        "password": "quartz-Lantern-71-meadow",
        "roles": [str(cast.support_role.pk)],
    }
    response = client_for(cast.org_admin).post(org_url("user-add"), data)
    assert response.status_code == 302
    user = User.objects.get(email="new.person@acme.example")
    assert user.full_name == "New Person" and user.check_password("quartz-Lantern-71-meadow")
    membership = Membership.objects.get(user=user, organization=cast.acme)
    assert list(membership.roles.all()) == [cast.support_role] and not membership.is_admin


def test_add_a_new_user_with_a_weak_password_is_refused(cast: Cast) -> None:
    data = {"email": "weak@acme.example", "full_name": "Weak", "password": "12345678"}
    response = client_for(cast.org_admin).post(org_url("user-add"), data)
    assert response.status_code == 200
    assert response.context["form"].errors["password"]
    body = response.content.decode()
    assert 'id="id_password_error"' in body and "12345678" not in body
    assert 'value="weak@acme.example"' in body
    assert not User.objects.filter(email="weak@acme.example").exists()


def test_add_an_existing_user_only_adds_the_membership(cast: Cast) -> None:
    response = client_for(cast.org_admin).post(
        org_url("user-add"), {"email": cast.outsider.email, "is_admin": "on"}
    )
    assert response.status_code == 302
    membership = Membership.objects.get(user=cast.outsider, organization=cast.acme)
    assert membership.is_admin
    assert cast.outsider.check_password(PASSWORD)  # untouched


def test_add_an_existing_member_again_is_refused(cast: Cast) -> None:
    response = client_for(cast.org_admin).post(org_url("user-add"), {"email": cast.member.email})
    assert response.status_code == 200 and "already a member" in response.content.decode()


def test_roles_of_another_org_are_refused_when_adding_or_editing(cast: Cast) -> None:
    foreign = Role.objects.create(organization=cast.globex, name="Foreign")
    client = client_for(cast.org_admin)
    response = client.post(org_url("user-edit", user_id=cast.loner.pk), {"roles": [str(foreign.pk)]})
    assert response.status_code == 200 and response.context["form"].errors["roles"]
    assert not Membership.objects.get(user=cast.loner, organization=cast.acme).roles.exists()
    response = client.post(org_url("user-add"), {"email": cast.outsider.email, "roles": [str(foreign.pk)]})
    assert response.status_code == 200
    assert not Membership.objects.filter(user=cast.outsider, organization=cast.acme).exists()


def test_edit_member_roles_and_admin_flag(cast: Cast) -> None:
    client = client_for(cast.org_admin)
    data = {"roles": [str(cast.configurer_role.pk)], "is_admin": "on"}
    assert client.post(org_url("user-edit", user_id=cast.loner.pk), data).status_code == 302
    membership = Membership.objects.get(user=cast.loner, organization=cast.acme)
    assert membership.is_admin and list(membership.roles.all()) == [cast.configurer_role]


def test_the_last_admin_cannot_remove_themself(cast: Cast) -> None:
    client = client_for(cast.org_admin)
    url = org_url("user-remove", user_id=cast.org_admin.pk)
    page = client.get(url).content.decode()
    assert "You are the last admin of this organization" in page
    assert "Remove</button>" not in page
    response = client.post(url)
    assert response.status_code == 200
    assert "You are the last admin of this organization" in response.content.decode()
    assert Membership.objects.filter(user=cast.org_admin, organization=cast.acme, is_admin=True).exists()


def test_the_last_admin_cannot_drop_their_admin_flag(cast: Cast) -> None:
    response = client_for(cast.org_admin).post(org_url("user-edit", user_id=cast.org_admin.pk), {})
    assert response.status_code == 200 and "last admin" in response.content.decode()
    assert Membership.objects.get(user=cast.org_admin, organization=cast.acme).is_admin


def test_an_admin_may_leave_when_another_admin_remains(cast: Cast) -> None:
    Membership.objects.filter(user=cast.configurer, organization=cast.acme).update(is_admin=True)
    response = client_for(cast.org_admin).post(org_url("user-remove", user_id=cast.org_admin.pk))
    assert response.status_code == 302
    assert not Membership.objects.filter(user=cast.org_admin, organization=cast.acme).exists()
    assert User.objects.filter(pk=cast.org_admin.pk).exists()  # the account itself stays


def test_users_list_shows_members_with_roles_of_this_org_only(cast: Cast) -> None:
    body = client_for(cast.org_admin).get(org_url("users")).content.decode()
    assert cast.member.email in body and "Support" in body
    assert cast.outsider.email not in body


# --- Roles -----------------------------------------------------------------------------------------------


def test_create_edit_and_delete_a_role(cast: Cast) -> None:
    client = client_for(cast.org_admin)
    data = {"name": "Billing", "description": "Invoices", "can_configure": "on"}
    assert client.post(org_url("role-new"), data).status_code == 302
    role = Role.objects.get(organization=cast.acme, name="Billing")
    assert role.can_configure and role.description == "Invoices"

    assert client.post(org_url("role-edit", role_id=role.pk), {"name": "Accounts"}).status_code == 302
    role.refresh_from_db()
    assert role.name == "Accounts" and not role.can_configure

    mailbox = make_mailbox(cast.acme)
    mailbox.access_roles.add(role)
    page = client.get(org_url("role-delete", role_id=role.pk)).content.decode()
    assert "1 mailbox grants access to it" in page
    assert client.post(org_url("role-delete", role_id=role.pk)).status_code == 302
    assert not Role.objects.filter(pk=role.pk).exists()


def test_duplicate_role_name_is_refused_but_fine_in_another_org(cast: Cast) -> None:
    response = client_for(cast.org_admin).post(org_url("role-new"), {"name": "support"})
    assert response.status_code == 200 and response.context["form"].errors["name"]
    response = client_for(cast.outsider).post(
        reverse("role-new", kwargs={"slug": "globex"}), {"name": "Support"}
    )
    assert response.status_code == 302
    assert Role.objects.filter(name__iexact="support").count() == 2


# --- API tokens ------------------------------------------------------------------------------------------


def test_token_is_shown_once_and_works_then_revoked(cast: Cast) -> None:
    client = client_for(cast.member)
    response = client.post(reverse("token-create"), {"name": "laptop"})
    raw = response.context["raw_token"]
    assert raw.startswith(ApiToken.PREFIX) and raw in response.content.decode()
    assert response["Cache-Control"] == "no-store"
    assert ApiToken.authenticate(raw) == cast.member
    listing = client.get(reverse("tokens")).content.decode()
    assert "laptop" in listing and raw not in listing
    token = ApiToken.objects.get(user=cast.member)
    assert client.post(reverse("token-revoke", kwargs={"token_id": token.pk})).status_code == 302
    assert ApiToken.authenticate(raw) is None


def test_token_list_shows_only_own_tokens(cast: Cast) -> None:
    ApiToken.issue(cast.outsider, "their-token")
    ApiToken.issue(cast.member, "my-token")
    body = client_for(cast.member).get(reverse("tokens")).content.decode()
    assert "my-token" in body and "their-token" not in body
