"""The tenant checklist (STYLE.md practice 3) for every web view, driven by one table.

Every named URL of postroom.web.urls must appear in ORG_ROUTES or USER_ROUTES; the guard test at the end
fails when a new view is added without joining the checklist.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.test import Client
from django.urls import URLPattern, URLResolver, reverse

from postroom.accounts.models import ApiToken, User
from postroom.web import urls as web_urls
from tests.autoresponse_helpers import make_rule, make_template, rule_form_data
from tests.compose_helpers import failed_outgoing, received, sending_mailbox
from tests.conftest import Cast
from tests.factories import PASSWORD, make_lead_source, make_mailbox, make_role
from tests.processing_helpers import converted_case, converted_lead
from tests.web_support import client_for, mailbox_form_data

Ids = dict[str, int]
ATTACHMENT = ("notes.txt", "text/plain", b"private notes")


def _no_ids(cast: Cast) -> Ids:
    return {}


def _source(cast: Cast) -> Ids:
    make_lead_source(cast.acme, "Email")
    return {"source_id": make_lead_source(cast.acme, "Web").pk}


def _mailbox(cast: Cast) -> Ids:
    return {"mailbox_id": make_mailbox(cast.acme).pk}


def _role(cast: Cast) -> Ids:
    return {"role_id": make_role(cast.acme, "Temporary").pk}


def _member(cast: Cast) -> Ids:
    return {"user_id": cast.loner.pk}


def _lead(cast: Cast) -> Ids:
    return {"lead_id": converted_lead(cast.acme, cast.member).pk}


def _case(cast: Cast) -> Ids:
    return {"case_id": converted_case(cast.acme, cast.member).pk}


def _rule(cast: Cast) -> Ids:
    mailbox = make_mailbox(cast.acme)
    return {"mailbox_id": mailbox.pk, "rule_id": make_rule(mailbox).pk}


def _template(cast: Cast) -> Ids:
    return {"template_id": make_template(cast.acme, name="Welcome").pk}


def _sending_mailbox(cast: Cast) -> Ids:
    return {"mailbox_id": sending_mailbox(cast.acme, (cast.support_role,)).pk}


def _received_message(cast: Cast) -> Ids:
    return {"message_id": received(sending_mailbox(cast.acme, (cast.support_role,))).pk}


def _failed_outgoing(cast: Cast) -> Ids:
    row = failed_outgoing(sending_mailbox(cast.acme, (cast.support_role,)))
    return {"mailbox_id": row.mailbox_id, "outgoing_id": row.pk}


def _thread(cast: Cast) -> Ids:
    return {"thread_id": received(sending_mailbox(cast.acme, (cast.support_role,))).thread_id}


def _attachment(cast: Cast) -> Ids:
    message = received(sending_mailbox(cast.acme, (cast.support_role,)), attachments=[ATTACHMENT])
    return {"attachment_id": message.attachments.get().pk}


def _compose_form(cast: Cast) -> dict[str, Any]:
    mailbox = cast.acme.mailboxes.get(smtp_enabled=True)
    return {"mailbox": mailbox.pk, "to": "ann@example.org", "subject": "Hi", "idempotency_key": "k" * 32}


def _rule_form(cast: Cast) -> dict[str, Any]:
    return rule_form_data()


def _template_form(cast: Cast) -> dict[str, Any]:
    return {
        "name": "Welcome back",
        "template_type": "text",
        "translation-count": "1",
        "translation-0-language": "en",
        "translation-0-subject": "Hello",
        "translation-0-content": "Hi {{ message.sender_name }}",
    }


def _unreachable_server() -> dict[str, Any]:
    return mailbox_form_data() | {"imap_host": "127.0.0.1", "imap_port": "1"}


def _foreign_ids(cast: Cast, ids: Ids) -> Ids:
    """Ids of the same kind that belong to the other organization."""
    foreign = {
        "source_id": lambda: make_lead_source(cast.globex, "Foreign").pk,
        "mailbox_id": lambda: make_mailbox(cast.globex, "Foreign").pk,
        "role_id": lambda: make_role(cast.globex, "Foreign").pk,
        "user_id": lambda: cast.outsider.pk,
        "lead_id": lambda: converted_lead(cast.globex, cast.outsider).pk,
        "case_id": lambda: converted_case(cast.globex, cast.outsider).pk,
        "rule_id": lambda: make_rule(make_mailbox(cast.globex, "Foreign rules")).pk,
        "template_id": lambda: make_template(cast.globex, name="Foreign").pk,
        "message_id": lambda: received(sending_mailbox(cast.globex, label="Foreign mail")).pk,
        "outgoing_id": lambda: failed_outgoing(sending_mailbox(cast.globex, label="Foreign outbox")).pk,
        "thread_id": lambda: received(sending_mailbox(cast.globex, label="Foreign thread")).thread_id,
        "attachment_id": lambda: (
            received(sending_mailbox(cast.globex, label="Foreign files"), attachments=[ATTACHMENT])
            .attachments.get()
            .pk
        ),
    }
    return {key: foreign[key]() for key in ids}


@dataclass(frozen=True)
class OrgRoute:
    name: str
    level: str  # "member", "reader" (of the route's mailbox), "configure" or "admin"
    methods: tuple[str, ...]
    setup: Callable[[Cast], Ids] = _no_ids
    data: Callable[[Cast], dict[str, Any]] = field(default=lambda cast: {})
    post_renders: bool = False  # a POST that answers with a page (a check) instead of acting and redirecting
    get_redirects: bool = False  # a GET that redirects to the page it stands for (a menu entry)

    def __str__(self) -> str:
        return self.name

    def url(self, cast: Cast, ids: Ids, slug: str | None = None) -> str:
        return reverse(self.name, kwargs={"slug": slug or cast.acme.slug, **ids})


ORG_ROUTES: tuple[OrgRoute, ...] = (
    OrgRoute("org-home", "member", ("GET",)),
    OrgRoute("configuration", "configure", ("GET",), get_redirects=True),
    OrgRoute(
        "email-configuration",
        "configure",
        ("GET", "POST"),
        data=lambda cast: {
            "email__sync_interval_minutes": "5",
            "email__autoresponse_limit_hours__use_global": "on",
            "email__default_language__use_global": "on",
        },
    ),
    OrgRoute("lead-sources", "configure", ("GET",)),
    OrgRoute("lead-source-add", "configure", ("POST",), data=lambda cast: {"label": "Trade show"}),
    OrgRoute("lead-source-rename", "configure", ("POST",), _source, lambda cast: {"label": "Website"}),
    OrgRoute("lead-source-move", "configure", ("POST",), _source, lambda cast: {"direction": "up"}),
    OrgRoute("lead-source-retire", "configure", ("POST",), _source),
    OrgRoute("lead-source-restore", "configure", ("POST",), _source),
    OrgRoute("mailbox-new", "configure", ("GET", "POST"), data=lambda cast: mailbox_form_data()),
    OrgRoute("mailbox-edit", "configure", ("GET", "POST"), _mailbox, lambda cast: mailbox_form_data()),
    OrgRoute("mailbox-delete", "configure", ("GET", "POST"), _mailbox),
    # The checks connect to a closed loopback port, so they answer at once (connection refused).
    OrgRoute(
        "mailbox-check-new",
        "configure",
        ("POST",),
        data=lambda cast: _unreachable_server(),
        post_renders=True,
    ),
    OrgRoute(
        "mailbox-check",
        "configure",
        ("POST",),
        _mailbox,
        lambda cast: _unreachable_server(),
        post_renders=True,
    ),
    OrgRoute("audit-log", "admin", ("GET",)),
    OrgRoute("roles", "admin", ("GET",)),
    OrgRoute("role-new", "admin", ("GET", "POST"), data=lambda cast: {"name": "Billing"}),
    OrgRoute("role-edit", "admin", ("GET", "POST"), _role, lambda cast: {"name": "Renamed"}),
    OrgRoute("role-delete", "admin", ("GET", "POST"), _role),
    OrgRoute("users", "admin", ("GET",)),
    OrgRoute(
        "user-add",
        "admin",
        ("GET", "POST"),
        data=lambda cast: {
            "email": "new.person@acme.example",
            "full_name": "New Person",
            "password": "quartz-Lantern-71-meadow",
        },
    ),
    OrgRoute("user-edit", "admin", ("GET", "POST"), _member, lambda cast: {"roles": [cast.support_role.pk]}),
    OrgRoute("user-remove", "admin", ("GET", "POST"), _member),
    OrgRoute("leads", "member", ("GET",)),
    OrgRoute("lead-detail", "member", ("GET", "POST"), _lead, data=lambda cast: {"language": "de"}),
    OrgRoute("cases", "member", ("GET",)),
    OrgRoute("case-detail", "member", ("GET",), _case),
    OrgRoute("processing-retry", "configure", ("POST",), _mailbox),
    OrgRoute("rule-new", "configure", ("GET", "POST"), _mailbox, _rule_form),
    OrgRoute("rule-edit", "configure", ("GET", "POST"), _rule, _rule_form),
    OrgRoute("rule-delete", "configure", ("GET", "POST"), _rule),
    OrgRoute("rule-move", "configure", ("POST",), _rule, lambda cast: {"direction": "up"}),
    OrgRoute("rule-activate", "configure", ("POST",), _rule, lambda cast: {"active": "off"}),
    OrgRoute("rule-preview", "configure", ("GET",), _rule),
    OrgRoute("rule-save-as-template", "configure", ("POST",), _rule, lambda cast: {"template_name": "Saved"}),
    OrgRoute("email-templates", "configure", ("GET",)),
    OrgRoute("email-template-new", "configure", ("GET", "POST"), data=_template_form),
    OrgRoute("email-template-edit", "configure", ("GET", "POST"), _template, _template_form),
    OrgRoute("email-template-delete", "configure", ("GET", "POST"), _template),
    OrgRoute("mail-reply", "reader", ("GET", "POST"), _received_message, _compose_form),
    OrgRoute("mail-compose", "reader", ("GET", "POST"), _sending_mailbox, _compose_form),
    OrgRoute("mail-status", "reader", ("GET",), _sending_mailbox),
    OrgRoute("outbox-retry", "reader", ("POST",), _failed_outgoing),
    OrgRoute("mail", "member", ("GET",)),
    OrgRoute("mail-search", "member", ("GET",)),
    OrgRoute("mail-mailbox", "reader", ("GET",), _sending_mailbox),
    OrgRoute("mail-thread", "reader", ("GET",), _thread),
    OrgRoute("mail-thread-unread", "reader", ("POST",), _thread),
    OrgRoute("mail-attachment", "reader", ("GET",), _attachment),
    OrgRoute("mail-raw", "reader", ("GET",), _received_message),
)

# Users who may open a route of each level, and users who are members but lack the permission.
ALLOWED = {
    "member": ("org_admin", "configurer", "member", "loner", "platform_admin"),
    "reader": ("org_admin", "configurer", "member", "platform_admin"),
    "configure": ("org_admin", "configurer", "platform_admin"),
    "admin": ("org_admin", "platform_admin"),
}
FORBIDDEN = {
    "member": (),
    "reader": (),
    "configure": ("member", "loner"),
    "admin": ("configurer", "member"),
}


def _calls(routes: tuple[OrgRoute, ...], personas: dict[str, tuple[str, ...]]) -> list[Any]:
    return [
        pytest.param(route, method, persona, id=f"{route.name}-{method}-{persona}")
        for route in routes
        for method in route.methods
        for persona in personas[route.level]
    ]


def _request(client: Client, method: str, url: str, data: dict[str, Any]) -> Any:
    return client.post(url, data) if method == "POST" else client.get(url)


@pytest.mark.parametrize(("route", "method", "persona"), _calls(ORG_ROUTES, ALLOWED))
def test_org_route_works_for_permitted_users(cast: Cast, route: OrgRoute, method: str, persona: str) -> None:
    ids = route.setup(cast)
    response = _request(client_for(getattr(cast, persona)), method, route.url(cast, ids), route.data(cast))
    assert response.status_code in (200, 302), response.content[:2000]
    if method == "POST" and route.post_renders:
        assert b"connection_refused" in response.content
    elif method == "POST" and response.status_code == 200:
        # A POST that acts redirects; a 200 would mean the form was re-rendered with errors.
        pytest.fail(f"{route.name} POST did not act: {response.content[:2000]!r}")


@pytest.mark.parametrize(("route", "method", "persona"), _calls(ORG_ROUTES, FORBIDDEN))
def test_org_route_forbidden_for_member_without_permission(
    cast: Cast, route: OrgRoute, method: str, persona: str
) -> None:
    ids = route.setup(cast)
    response = _request(client_for(getattr(cast, persona)), method, route.url(cast, ids), route.data(cast))
    assert response.status_code == 403


READER_CALLS = [
    pytest.param(r, m, id=f"{r.name}-{m}") for r in ORG_ROUTES for m in r.methods if r.level == "reader"
]


@pytest.mark.parametrize(("route", "method"), READER_CALLS)
def test_mail_route_is_404_for_a_member_without_access_to_the_mailbox(
    cast: Cast, route: OrgRoute, method: str
) -> None:
    ids = route.setup(cast)
    response = _request(client_for(cast.loner), method, route.url(cast, ids), route.data(cast))
    assert response.status_code == 404


ALL_METHODS = [pytest.param(r, m, id=f"{r.name}-{m}") for r in ORG_ROUTES for m in r.methods]
WITH_IDS = [
    pytest.param(r, m, id=f"{r.name}-{m}") for r in ORG_ROUTES for m in r.methods if r.setup is not _no_ids
]


@pytest.mark.parametrize(("route", "method"), ALL_METHODS)
def test_org_route_is_404_for_another_organizations_admin(cast: Cast, route: OrgRoute, method: str) -> None:
    ids = route.setup(cast)
    response = _request(client_for(cast.outsider), method, route.url(cast, ids), route.data(cast))
    assert response.status_code == 404


@pytest.mark.parametrize(("route", "method"), ALL_METHODS)
def test_org_route_is_404_for_an_unknown_organization(cast: Cast, route: OrgRoute, method: str) -> None:
    ids = route.setup(cast)
    response = _request(
        client_for(cast.org_admin), method, route.url(cast, ids, slug="nope"), route.data(cast)
    )
    assert response.status_code == 404


@pytest.mark.parametrize(("route", "method"), ALL_METHODS)
def test_org_route_redirects_anonymous_to_login(cast: Cast, route: OrgRoute, method: str) -> None:
    ids = route.setup(cast)
    url = route.url(cast, ids)
    response = _request(Client(), method, url, route.data(cast))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


@pytest.mark.parametrize(("route", "method"), WITH_IDS)
def test_org_route_is_404_for_a_bad_id(cast: Cast, route: OrgRoute, method: str) -> None:
    ids = route.setup(cast)
    client = client_for(cast.org_admin)
    missing = {key: 987654321 for key in ids}
    assert _request(client, method, route.url(cast, missing), route.data(cast)).status_code == 404


@pytest.mark.parametrize(("route", "method"), WITH_IDS)
def test_org_route_is_404_for_another_organizations_id(cast: Cast, route: OrgRoute, method: str) -> None:
    ids = route.setup(cast)
    foreign = _foreign_ids(cast, ids)
    response = _request(client_for(cast.org_admin), method, route.url(cast, foreign), route.data(cast))
    assert response.status_code == 404


def _wrong_method(methods: tuple[str, ...]) -> str:
    if methods == ("GET",):
        return "post"
    if methods == ("POST",):
        return "get"
    return "delete"


@pytest.mark.parametrize("route", ORG_ROUTES, ids=str)
def test_org_route_rejects_the_wrong_method(cast: Cast, route: OrgRoute) -> None:
    ids = route.setup(cast)
    client = client_for(cast.org_admin)
    response = getattr(client, _wrong_method(route.methods))(route.url(cast, ids))
    assert response.status_code == 405


# --- Routes outside an organization -------------------------------------------------------------------


def _own_token(cast: Cast) -> dict[str, int]:
    return {"token_id": ApiToken.issue(cast.org_admin, "ci")[0].pk}


@dataclass(frozen=True)
class UserRoute:
    name: str
    methods: tuple[str, ...]
    allowed: str  # persona for whom it works ("anonymous" for nobody logged in)
    forbidden: str | None = None  # a logged-in persona who gets 403
    setup: Callable[[Cast], Ids] = _no_ids
    query: str = ""
    data: Callable[[Cast], dict[str, Any]] = field(default=lambda cast: {})
    anonymous_ok: bool = False
    post_renders: bool = (
        False  # the POST answers with a page (the new token, shown once) instead of redirecting
    )
    # For the persona matrix: the personas it works for when that is not "everyone logged in" (allowed
    # "member"), nor just `allowed`; the other logged-in personas get 403 (`forbidden` set) or 404.
    audience: tuple[str, ...] | None = None
    get_redirects: bool = False  # a GET that redirects (to the organization the user works in)

    def __str__(self) -> str:
        return self.name

    def url(self, ids: Ids) -> str:
        return reverse(self.name, kwargs=ids) + self.query


USER_ROUTES: tuple[UserRoute, ...] = (
    UserRoute("home", ("GET",), "member", get_redirects=True),
    UserRoute(
        "login",
        ("GET", "POST"),
        "anonymous",
        data=lambda cast: {"username": cast.member.email, "password": PASSWORD},
        anonymous_ok=True,
    ),
    UserRoute("logout", ("POST",), "member", anonymous_ok=True),
    UserRoute("organizations", ("GET",), "member"),
    UserRoute(
        "organization-new",
        ("GET", "POST"),
        "platform_admin",
        forbidden="org_admin",
        data=lambda cast: {"name": "Initech", "slug": "initech"},
    ),
    UserRoute(
        "switch",
        ("GET",),
        "member",
        query="?org=acme",
        get_redirects=True,
        audience=("platform_admin", "org_admin", "configurer", "member", "loner"),
    ),
    UserRoute(
        "global-configuration",
        ("GET", "POST"),
        "platform_admin",
        forbidden="org_admin",
        data=lambda cast: {
            "email__sync_interval_minutes": "3",
            "email__autoresponse_limit_hours": "12",
            "email__default_language": "de",
        },
    ),
    UserRoute("tokens", ("GET",), "member"),
    UserRoute("token-create", ("POST",), "member", data=lambda cast: {"name": "ci"}, post_renders=True),
    UserRoute("token-revoke", ("POST",), "org_admin", setup=_own_token),
)


def _client_as(cast: Cast, persona: str) -> Client:
    return Client() if persona == "anonymous" else client_for(getattr(cast, persona))


def _user_calls(keep: Callable[[UserRoute], bool] = lambda route: True) -> list[Any]:
    return [pytest.param(r, m, id=f"{r.name}-{m}") for r in USER_ROUTES for m in r.methods if keep(r)]


USER_CALLS = _user_calls()


@pytest.mark.parametrize(("route", "method"), USER_CALLS)
def test_user_route_works_for_its_user(cast: Cast, route: UserRoute, method: str) -> None:
    ids = route.setup(cast)
    response = _request(_client_as(cast, route.allowed), method, route.url(ids), route.data(cast))
    assert response.status_code in (200, 302), response.content[:2000]
    if method == "POST":
        assert response.status_code == (200 if route.post_renders else 302), response.content[:2000]


@pytest.mark.parametrize(("route", "method"), _user_calls(lambda route: route.forbidden is not None))
def test_user_route_forbidden_without_platform_admin(cast: Cast, route: UserRoute, method: str) -> None:
    client = client_for(getattr(cast, route.forbidden or ""))
    assert _request(client, method, route.url(route.setup(cast)), route.data(cast)).status_code == 403


@pytest.mark.parametrize(("route", "method"), _user_calls(lambda route: not route.anonymous_ok))
def test_user_route_redirects_anonymous_to_login(cast: Cast, route: UserRoute, method: str) -> None:
    response = _request(Client(), method, route.url(route.setup(cast)), route.data(cast))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login") + "?next=")


@pytest.mark.parametrize("route", USER_ROUTES, ids=str)
def test_user_route_rejects_the_wrong_method(cast: Cast, route: UserRoute) -> None:
    ids = route.setup(cast)
    client = _client_as(cast, route.allowed)
    assert getattr(client, _wrong_method(route.methods))(route.url(ids)).status_code == 405


def test_switch_to_an_organization_without_access_is_404(cast: Cast) -> None:
    assert client_for(cast.outsider).get(reverse("switch") + "?org=acme").status_code == 404
    assert client_for(cast.member).get(reverse("switch") + "?org=nope").status_code == 404


def test_revoking_someone_elses_token_is_404_and_keeps_it(cast: Cast) -> None:
    token, _raw = ApiToken.issue(cast.outsider, "theirs")
    response = client_for(cast.org_admin).post(reverse("token-revoke", kwargs={"token_id": token.pk}))
    assert response.status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_revoking_a_missing_token_is_404(cast: Cast) -> None:
    response = client_for(cast.org_admin).post(reverse("token-revoke", kwargs={"token_id": 987654321}))
    assert response.status_code == 404


# --- The guard: no view may skip this checklist ----------------------------------------------------------


def _names(patterns: list[URLPattern | URLResolver]) -> set[str]:
    names: set[str] = set()
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            names |= _names(pattern.url_patterns)
        elif pattern.name:
            names.add(pattern.name)
        else:
            names.add(f"<unnamed {pattern.pattern}>")
    return names


def test_every_web_url_is_in_the_tenant_checklist() -> None:
    listed = {route.name for route in ORG_ROUTES} | {route.name for route in USER_ROUTES}
    missing = _names(web_urls.urlpatterns) - listed
    assert not missing, f"add these URLs to the tenant checklist: {sorted(missing)}"


def test_checklist_personas_exist(cast: Cast) -> None:
    for personas in (*ALLOWED.values(), *FORBIDDEN.values()):
        for persona in personas:
            assert isinstance(getattr(cast, persona), User)
