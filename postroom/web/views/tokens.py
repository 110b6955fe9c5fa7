"""The user's own API tokens. Only a hash is stored; the raw token is shown once, right after creation."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from postroom.accounts.models import ApiToken, User
from postroom.web.forms import TokenForm
from postroom.web.guards import current_user


def _render(
    request: HttpRequest, user: User, form: TokenForm, raw: str = "", status: int = 200
) -> HttpResponse:
    ctx = {"tokens": ApiToken.objects.filter(user=user), "form": form, "raw_token": raw}
    response = render(request, "postroom/account/tokens.html", ctx, status=status)
    if raw:
        response["Cache-Control"] = "no-store"  # the raw token must not linger in caches
    return response


@require_GET
@login_required
def token_list(request: HttpRequest) -> HttpResponse:
    return _render(request, current_user(request), TokenForm())


@require_POST
@login_required
def token_create(request: HttpRequest) -> HttpResponse:
    user = current_user(request)
    form = TokenForm(request.POST)
    if not form.is_valid():
        return _render(request, user, form)
    _token, raw = ApiToken.issue(user, form.cleaned_data["name"])
    return _render(request, user, TokenForm(), raw=raw)


@require_POST
@login_required
def token_revoke(request: HttpRequest, token_id: int) -> HttpResponse:
    token = get_object_or_404(ApiToken, pk=token_id, user=current_user(request))
    token.delete()
    messages.success(request, f"Token “{token.name}” revoked.")
    return redirect("tokens")
