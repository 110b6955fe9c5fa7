"""Web hardening: security headers on every response, and log-in throttling.

The Content-Security-Policy forbids inline script and style and anything loaded from elsewhere. A page
that embeds mail (`<iframe sandbox srcdoc>`, whose document inherits this policy) relaxes the directives
it needs with `relax_csp`; the iframe's own policy still forbids script.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib.auth.forms import AuthenticationForm
from django.contrib.auth.views import LoginView
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from postroom.audit import throttle
from postroom.web.forms import EmailLoginForm

CSP: dict[str, str] = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "frame-src": "'self'",
    "frame-ancestors": "'none'",
    "form-action": "'self'",
    "base-uri": "'none'",
    "object-src": "'none'",
}
PERMISSIONS_POLICY = "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()"
_EXTRA = "_postroom_csp_extra"


def relax_csp(response: HttpResponse, **directives: str) -> HttpResponse:
    """Add sources to directives of this response's policy, e.g. `relax_csp(r, style_src="'unsafe-inline'")`
    for a page showing mail whose HTML carries its own styles."""
    extra: dict[str, str] = getattr(response, _EXTRA, {})
    for name, sources in directives.items():
        extra[name.replace("_", "-")] = sources
    setattr(response, _EXTRA, extra)
    return response


def content_security_policy(extra: dict[str, str] | None = None) -> str:
    directives = dict(CSP)
    for name, sources in (extra or {}).items():
        directives[name] = f"{directives.get(name, '')} {sources}".strip()
    return "; ".join(f"{name} {sources}" for name, sources in directives.items())


class SecurityHeadersMiddleware:
    """Content-Security-Policy and Permissions-Policy on every response that has none of its own (an
    attachment download sets `sandbox`). Django's SecurityMiddleware adds nosniff and Referrer-Policy,
    XFrameOptionsMiddleware X-Frame-Options."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = content_security_policy(getattr(response, _EXTRA, None))
        response.setdefault("Permissions-Policy", PERMISSIONS_POLICY)
        return response


# --- Log-in throttling ------------------------------------------------------------------------------


class ThrottledLoginForm(EmailLoginForm):
    """The log-in form, refusing to check a password once the account or the address has failed too often
    in the last minutes (5 per account, 20 per address in 15 minutes)."""

    throttled = False

    def clean(self) -> dict[str, Any]:
        account = str(self.cleaned_data.get("username") or "")
        address = throttle.client_address(self.request) if self.request is not None else ""
        wait = max(throttle.wait_minutes("account", account), throttle.wait_minutes("ip", address))
        if wait:
            self.throttled = True
            raise forms.ValidationError(
                f"Too many failed log-in attempts. Try again in {wait} minute{'s' if wait != 1 else ''}.",
                code="throttled",
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            throttle.record_failure("account", account)
            throttle.record_failure("ip", address)
            raise
        throttle.forget("account", account)
        return cleaned


class ThrottledLoginView(LoginView):
    """Answers 429 (with the form and its message) while log-ins are refused. (LoginView already hides
    every POST parameter from error reports.)"""

    authentication_form = ThrottledLoginForm

    def form_invalid(self, form: AuthenticationForm) -> HttpResponse:
        response = super().form_invalid(form)
        if getattr(form, "throttled", False) and isinstance(response, TemplateResponse):
            response.status_code = 429
        return response
