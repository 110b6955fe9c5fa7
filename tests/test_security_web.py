"""Web hardening: security headers and CSP, templates the CSP would break, cookies, log-in and API token
throttling, password validation on every way a user is created, secrets kept out of error reports."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest
from django.contrib.auth.password_validation import validate_password
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.views.debug import SafeExceptionReporterFilter

import postroom
from postroom.accounts.models import User
from postroom.audit.models import LoginFailure
from postroom.datadir import secret_file
from postroom.web.security import content_security_policy
from tests.api_helpers import as_user, call, token_for
from tests.cli_helpers import run_cli
from tests.conftest import Cast
from tests.factories import PASSWORD
from tests.web_support import client_for, mailbox_form_data

TEMPLATES = Path(postroom.__file__).parent


def test_pages_carry_the_security_headers(cast: Cast) -> None:
    response = client_for(cast.org_admin).get(reverse("org-home", kwargs={"slug": "acme"}))
    csp = response["Content-Security-Policy"]
    assert "script-src 'self';" in csp and "unsafe-inline" not in csp and "unsafe-eval" not in csp
    assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp and "base-uri 'none'" in csp
    assert "frame-src 'self'" in csp
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Referrer-Policy"] == "same-origin"
    assert response["X-Frame-Options"] == "DENY"
    assert "camera=()" in response["Permissions-Policy"]


def test_the_login_page_and_api_answers_carry_the_policy_too(cast: Cast) -> None:
    assert "default-src 'self'" in Client().get(reverse("login"))["Content-Security-Policy"]
    assert "default-src 'self'" in call("GET", "/me")["Content-Security-Policy"]


def test_relaxed_directives_add_to_the_policy() -> None:
    policy = content_security_policy({"style-src": "'unsafe-inline'", "img-src": "https:"})
    assert "style-src 'self' 'unsafe-inline'" in policy
    assert "img-src 'self' data: https:" in policy
    assert "script-src 'self';" in policy


_INLINE = [
    (re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.I), "inline <script>"),
    (re.compile(r"<[a-z][^>]*\son[a-z]+\s*=", re.I), "on* event handler attribute"),
    (re.compile(r"<[a-z][^>]*\sstyle\s*=", re.I), "style attribute"),
    (re.compile(r"<style[\s>]", re.I), "inline <style>"),
    (re.compile(r"javascript:", re.I), "javascript: URL"),
]


@pytest.mark.parametrize("template", sorted(TEMPLATES.rglob("templates/**/*.html")), ids=lambda p: p.name)
def test_no_template_has_what_the_csp_forbids(template: Path) -> None:
    source = template.read_text()
    for pattern, what in _INLINE:
        assert not pattern.search(source), f"{template}: {what} is blocked by the Content-Security-Policy"


def test_htmx_is_told_not_to_inject_styles_or_eval(cast: Cast) -> None:
    page = client_for(cast.member).get(reverse("org-home", kwargs={"slug": "acme"})).content.decode()
    assert '"includeIndicatorStyles": false' in page and '"allowEval": false' in page


def test_session_and_csrf_cookies_are_httponly_and_lax(cast: Cast, settings: object) -> None:
    client = Client(enforce_csrf_checks=True)
    page = client.get(reverse("login"))
    csrf = page.cookies["csrftoken"]
    assert csrf["httponly"] and csrf["samesite"] == "Lax"
    token = csrf.value
    client.post(
        reverse("login"), {"username": cast.member.email, "password": PASSWORD, "csrfmiddlewaretoken": token}
    )
    session = client.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"
    assert not session["secure"]  # plain HTTP by default: POSTROOM_HTTPS=1 turns it on


# --- Log-in throttling ------------------------------------------------------------------------------


def _login(client: Client, email: str, password: str) -> int:
    return client.post(reverse("login"), {"username": email, "password": password}).status_code


def test_five_failures_lock_the_account_even_for_the_right_password(cast: Cast) -> None:
    for _ in range(5):
        assert _login(Client(), cast.member.email, "wrong-password") == 200
    response = Client().post(reverse("login"), {"username": cast.member.email, "password": PASSWORD})
    assert response.status_code == 429
    assert b"Too many failed log-in attempts. Try again in 15 minutes." in response.content
    assert "_auth_user_id" not in response.client.session
    # Another account from the same address may still log in.
    assert _login(Client(), cast.org_admin.email, PASSWORD) == 302


def test_an_address_guessing_across_accounts_is_refused(cast: Cast) -> None:
    for index in range(20):
        _login(Client(), f"nobody{index}@acme.example", "guess")
    assert _login(Client(), cast.member.email, PASSWORD) == 429
    other_address = Client(REMOTE_ADDR="10.9.8.7")
    assert _login(other_address, cast.member.email, PASSWORD) == 302


def test_a_successful_login_clears_the_accounts_failures(cast: Cast) -> None:
    for _ in range(4):
        _login(Client(), cast.member.email, "wrong-password")
    assert _login(Client(), cast.member.email, PASSWORD) == 302
    for _ in range(4):
        _login(Client(), cast.member.email, "wrong-password")
    assert _login(Client(), cast.member.email, PASSWORD) == 302


def test_the_lock_expires_after_the_window(cast: Cast) -> None:
    for _ in range(5):
        _login(Client(), cast.member.email, "wrong-password")
    LoginFailure.objects.update(at=timezone.now() - timedelta(minutes=16))
    assert _login(Client(), cast.member.email, PASSWORD) == 302


def test_refused_api_tokens_from_one_address_are_throttled(cast: Cast) -> None:
    for _ in range(20):
        assert call("GET", "/me", "not-a-real-token").status_code == 401
    refused = call("GET", "/me", token_for(cast.member))
    assert refused.status_code == 429
    assert "Try again in" in refused.json()["detail"]


def test_valid_tokens_are_not_counted(cast: Cast) -> None:
    for _ in range(25):
        assert as_user(cast.member, "GET", "/me").status_code == 200


# --- Passwords ------------------------------------------------------------------------------------


def test_weak_passwords_are_refused_on_every_way_a_user_is_created(
    cast: Cast, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    web = client_for(cast.org_admin).post(
        reverse("user-add", kwargs={"slug": "acme"}),
        {"email": "weak@acme.example", "full_name": "Weak", "password": "password"},
    )
    assert web.status_code == 200 and b"This password is too common" in web.content
    api = as_user(
        cast.org_admin, "POST", "/orgs/acme/members", {"email": "weak2@acme.example", "password": "12345678"}
    )
    assert api.status_code == 422 and "password" in api.json()["errors"]
    cli = run_cli(
        capsys,
        monkeypatch,
        "user",
        "create",
        "weak3@acme.example",
        "--org",
        "acme",
        "--password-stdin",
        stdin="short\n",
    )
    assert cli.code == 2 and "password" in cli.err
    assert not User.objects.filter(email__startswith="weak").exists()


def test_the_generated_demo_password_passes_the_validators() -> None:
    validate_password(
        secret_file("demo-password-probe", "login"), user=User(email="admin@demo.postroom.test")
    )


# --- Secrets in error reports ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("url_name", "data"),
    [
        ("login", {"username": "a@acme.example", "password": "hunter2-Login"}),
        ("mailbox-new", mailbox_form_data(password="hunter2-Login", imap_host="")),
    ],
)
def test_passwords_are_hidden_from_error_reports(cast: Cast, url_name: str, data: dict[str, str]) -> None:
    kwargs = {"slug": "acme"} if url_name != "login" else {}
    response = client_for(cast.org_admin if kwargs else None).post(reverse(url_name, kwargs=kwargs), data)
    request = response.wsgi_request
    assert getattr(request, "sensitive_post_parameters", None) in (("password",), "__ALL__")
    shown = SafeExceptionReporterFilter().get_post_parameters(request)
    assert shown["password"] != "hunter2-Login" and "hunter2" not in str(shown)
