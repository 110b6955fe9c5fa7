"""Members of an organization and their roles (organization admins only)."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods

from postroom.accounts.models import User
from postroom.organizations.access import OrgAccess
from postroom.organizations.members import is_last_admin
from postroom.organizations.models import Membership
from postroom.web.forms import AddUserForm, MembershipForm
from postroom.web.guards import org_view, posted

LAST_ADMIN = "{} the last admin of this organization. Make someone else an admin first."


def _membership(access: OrgAccess, user_id: int) -> Membership:
    return get_object_or_404(
        Membership.objects.select_related("user"), user_id=user_id, organization=access.organization
    )


def _last_admin_message(access: OrgAccess, membership: Membership) -> str:
    who = "You are" if membership.user_id == access.user.pk else f"{membership.user.display_name} is"
    return LAST_ADMIN.format(who)


@require_GET
@org_view("admin")
def user_list(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    members = (
        Membership.objects.filter(organization=access.organization)
        .select_related("user")
        .prefetch_related("roles")
        .order_by("user__email")
    )
    return render(
        request, "postroom/users/list.html", {"access": access, "members": members, "menu": "users"}
    )


@require_http_methods(["GET", "POST"])
@org_view("admin")
def user_add(request: HttpRequest, access: OrgAccess) -> HttpResponse:
    form = AddUserForm(posted(request), organization=access.organization)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        with transaction.atomic():
            user = form.existing_user()
            if user is None:
                user = User.objects.create_user(data["email"], data["password"], full_name=data["full_name"])
            membership = Membership.objects.create(
                user=user, organization=access.organization, is_admin=data["is_admin"]
            )
            membership.roles.set(data["roles"])
        messages.success(request, f"{user.display_name} added to {access.organization.name}.")
        return redirect("users", slug=access.organization.slug)
    return render(request, "postroom/users/add.html", {"access": access, "form": form, "menu": "users"})


def _save_membership(access: OrgAccess, membership: Membership, form: MembershipForm) -> bool:
    """Apply the form; False (with the error on the form) when it would leave no admin."""
    with transaction.atomic():
        if not form.cleaned_data["is_admin"] and is_last_admin(membership):
            form.add_error("is_admin", _last_admin_message(access, membership))
            return False
        membership.is_admin = form.cleaned_data["is_admin"]
        membership.save(update_fields=["is_admin"])
        membership.roles.set(form.cleaned_data["roles"])
    return True


@require_http_methods(["GET", "POST"])
@org_view("admin")
def user_edit(request: HttpRequest, access: OrgAccess, user_id: int) -> HttpResponse:
    membership = _membership(access, user_id)
    initial = {"roles": membership.roles.all(), "is_admin": membership.is_admin}
    form = MembershipForm(posted(request), initial=initial, organization=access.organization)
    if request.method == "POST" and form.is_valid() and _save_membership(access, membership, form):
        messages.success(request, f"{membership.user.display_name} updated.")
        return redirect("users", slug=access.organization.slug)
    ctx = {"access": access, "form": form, "membership": membership, "menu": "users"}
    return render(request, "postroom/users/edit.html", ctx)


@require_http_methods(["GET", "POST"])
@org_view("admin")
def user_remove(request: HttpRequest, access: OrgAccess, user_id: int) -> HttpResponse:
    membership = _membership(access, user_id)
    with transaction.atomic():
        blocked = _last_admin_message(access, membership) if is_last_admin(membership) else ""
        if request.method == "POST" and not blocked:
            membership.delete()
    if request.method == "POST" and not blocked:
        messages.success(request, f"{membership.user.display_name} removed from {access.organization.name}.")
        return redirect("users", slug=access.organization.slug)
    ctx = {"access": access, "membership": membership, "blocked": blocked, "menu": "users"}
    return render(request, "postroom/users/remove.html", ctx)
