"""The persona matrix of issue 6: every URL and every API operation, called as every persona, answers
exactly the expected status, and no refused persona's response shows the protected data.

The routes, their levels and their setup functions are those of the tenant checklists
(tests/test_web_tenant_checklist.py, tests/test_api_tenant_checklist.py), whose guard tests fail when a
URL or an operation is missing from their tables; this matrix iterates those tables, so a new route is
covered here as soon as it joins them. The guards at the end enumerate the URL resolver (with the operator
URLs of postroom.urls) and the OpenAPI schema once more, for the routes outside those tables.

Protected data is found by markers: after a route's setup, every text the pages show of acme's objects
(mailbox labels, subjects and bodies, lead names, case subjects, rule, template, role and folder names,
audit entries, acme's own name) gets a marker naming who may see it:

- ORG, in acme's name: acme's members and platform admins;
- READ, in mail and mailboxes the member with access (Support role) may read: readers of the mailbox;
- OBJECT, in everything else the route may show: whoever the route lets in.

A persona the route refuses (403, 404, the login redirect, 401) must see no OBJECT marker, and any persona
must see no marker it may not see anywhere (the member without access never sees READ; the other
organization's admin and the anonymous visitor see no marker at all). Every allowed GET of a route that
names an object must show its marker, which proves the check can fail.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import pytest
from django.db import transaction
from django.db.models import F, Model, Q, Value
from django.db.models.functions import Concat
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver

from postroom.api.api import api
from postroom.audit.models import AuditEntry
from postroom.autoresponse.models import EmailTemplate, Rule, Translation
from postroom.crm.models import Case, Lead, LeadSource
from postroom.mailboxes.models import Mailbox
from postroom.messages.models import Attachment, Message, MessageBody, MessageRaw, Thread
from postroom.operations.models import WorkerHeartbeat
from postroom.organizations.models import Organization, Role
from postroom.outbox.models import OutgoingMessage
from postroom.sync.models import Folder, Placement
from tests import test_api_tenant_checklist as api_table
from tests import test_web_tenant_checklist as web_table
from tests.api_helpers import BASE, call, token_for
from tests.compose_helpers import received
from tests.conftest import Cast
from tests.factories import make_mailbox
from tests.web_support import client_for

MARK = "MARKER-7f3a"
ORG = f"{MARK}-org"
READ = f"{MARK}-read"
OBJECT = f"{MARK}-obj"
BACKGROUND = f"{READ}-bg"  # READ, in mail that is no route's object: it does not prove a page shows its own
OWN_MARKER = re.compile(f"{MARK}-(obj|read)(?!-bg)")

PERSONAS = ("platform_admin", "org_admin", "configurer", "member", "loner", "outsider", "anonymous")
READERS = {"platform_admin", "org_admin", "configurer", "member"}  # of the Support role's mailboxes
OF_ACME = {"platform_admin", "org_admin", "configurer", "member", "loner"}
LOGIN_REDIRECT = 302


@dataclass(frozen=True)
class Answer:
    status: int
    text: str  # the body and every header value, where a marker could show

    @classmethod
    def of(cls, response: Any) -> Answer:
        body = b"".join(response) if response.streaming else response.content
        headers = " ".join(f"{name}: {value}" for name, value in response.items())
        return cls(response.status_code, body.decode("utf-8", "replace") + "\n" + headers)


def _isolated(send: Callable[[], Any]) -> Answer:
    """One persona's call in a savepoint that is rolled back, so the next persona finds the same data."""
    with transaction.atomic():
        answer = Answer.of(send())
        transaction.set_rollback(True)
    return answer


# --- Planting the markers ---------------------------------------------------------------------------------


def _append(model: type[Model], rows: Q, fields: tuple[str, ...], marker: str) -> None:
    unmarked = ~Q(**{f"{fields[0]}__contains": MARK})
    model._default_manager.filter(rows & unmarked).update(
        **{f: Concat(F(f), Value(f" {marker}")) for f in fields}
    )


def _readable_mailboxes(cast: Cast) -> set[int]:
    return set(
        Mailbox.objects.filter(organization=cast.acme, access_roles=cast.support_role).values_list(
            "pk", flat=True
        )
    )


def plant(cast: Cast) -> None:
    """Mark acme's data (see the module docstring). The cast's own roles stay as they are: they are not
    any route's object, and pages name them to the people who hold them."""
    acme = Q(organization=cast.acme)
    readable = _readable_mailboxes(cast)
    origins = set(Lead.objects.filter(acme).values_list("message_id", flat=True)) | set(
        Case.objects.filter(acme).values_list("message_id", flat=True)
    )
    in_readable = set(Placement.objects.filter(mailbox__in=readable).values_list("message_id", flat=True))
    mail = Q(pk__in=in_readable - origins)

    _append(Organization, Q(pk=cast.acme.pk), ("name",), ORG)
    _append(Mailbox, acme & Q(pk__in=readable), ("label",), READ)
    _append(Mailbox, acme & ~Q(pk__in=readable), ("label",), OBJECT)
    _append(Folder, acme & Q(mailbox__in=readable), ("display_name",), READ)
    _append(Folder, acme & ~Q(mailbox__in=readable), ("display_name",), OBJECT)
    _append(OutgoingMessage, acme & Q(mailbox__in=readable), ("subject",), READ)
    _append(OutgoingMessage, acme & ~Q(mailbox__in=readable), ("subject",), OBJECT)
    for rows, marker in ((mail, READ), (acme & ~mail, OBJECT)):
        _append(Message, acme & rows, ("subject", "snippet"), marker)
        _append(MessageBody, acme & Q(message__in=Message.objects.filter(rows)), ("text",), marker)
        _append(Thread, acme & Q(pk__in=Message.objects.filter(rows).values("thread")), ("subject",), marker)
        Attachment.objects.filter(
            acme & Q(message__in=Message.objects.filter(rows)) & ~Q(filename__contains=MARK)
        ).update(filename=Concat(Value(f"{marker}-"), F("filename")))
        _mark_raw(MessageRaw.objects.filter(acme & Q(message__in=Message.objects.filter(rows))), marker)
    _append(Lead, acme, ("name", "notes"), OBJECT)
    _append(Case, acme, ("subject", "description"), OBJECT)
    _append(LeadSource, acme, ("label",), OBJECT)
    _append(Rule, acme, ("name",), OBJECT)
    _append(EmailTemplate, acme, ("name",), OBJECT)
    _append(Translation, Q(template__organization=cast.acme), ("subject", "content"), OBJECT)
    _append(Role, acme & ~Q(pk__in=(cast.support_role.pk, cast.configurer_role.pk)), ("name",), OBJECT)
    _append(AuditEntry, acme, ("object_label",), OBJECT)
    cast.acme.refresh_from_db()


def _mark_raw(raws: Any, marker: str) -> None:
    """The raw download shows the bytes as fetched: mark the text body there too."""
    for raw in raws:
        data = bytes(raw.data)
        if MARK.encode() not in data:
            raw.data = data.replace(b"Hello there.", f"Hello there. {marker}".encode())
            raw.save(update_fields=["data"])


def background(cast: Cast) -> None:
    """Mail in a mailbox of the Support role, so pages that list mail (and menus) have some to show."""
    archive = make_mailbox(cast.acme, f"Archive {BACKGROUND}", email="archive@acme.example.com")
    archive.access_roles.set([cast.support_role])
    received(archive, subject=f"Quarterly figures {BACKGROUND}", body=f"Hello there. {BACKGROUND}\n")


# --- Judging one answer -----------------------------------------------------------------------------------


def forbidden_markers(persona: str, refused: bool) -> tuple[str, ...]:
    if persona not in OF_ACME:
        return (MARK,)
    hidden = () if persona in READERS else (READ,)
    return (*hidden, OBJECT) if refused else hidden


def judge(persona: str, answer: Answer, expected: int, shows: bool) -> list[str]:
    """What is wrong with `persona`'s answer: the status, a leaked marker, or a page that hides its object."""
    problems = []
    if answer.status != expected:
        problems.append(f"{persona}: status {answer.status}, expected {expected}: {answer.text[:300]!r}")
    refused = expected >= 400 or (expected == LOGIN_REDIRECT and persona == "anonymous")
    leaked = [marker for marker in forbidden_markers(persona, refused) if marker in answer.text]
    if leaked:
        at = answer.text.index(leaked[0])
        problems.append(
            f"{persona}: shows {leaked} ({answer.status}): …{answer.text[max(0, at - 200) : at + 40]!r}"
        )
    if shows and answer.status == 200 and not OWN_MARKER.search(answer.text):
        problems.append(f"{persona}: the page does not show its object's marker")
    return problems


def names_an_object(params: tuple[str, ...]) -> bool:
    """Whether a page with these path parameters shows a marked object. A member's page shows a user,
    whose name no marker can carry (every page names its own user)."""
    return bool(set(params) - {"user_id"})


def _client(cast: Cast, persona: str) -> Client:
    return Client() if persona == "anonymous" else client_for(getattr(cast, persona))


def _web_calls(
    routes: Sequence[web_table.OrgRoute] | Sequence[web_table.UserRoute],
) -> list[pytest.ParameterSet]:
    return [
        pytest.param(route, method, id=f"{route.name}-{method}")
        for route in routes
        for method in route.methods
    ]


def _web_problems(
    cast: Cast, method: str, url: str, data: dict[str, Any], expected: Callable[[str], int], shows: bool
) -> list[str]:
    """Every persona's answer to one web request, judged against the status `expected` gives for it."""
    problems = []
    for persona in PERSONAS:
        answer = _isolated(partial(web_table._request, _client(cast, persona), method, url, data))
        problems += judge(persona, answer, expected(persona), shows)
    return problems


# --- Web routes of an organization ------------------------------------------------------------------------


def org_route_status(route: web_table.OrgRoute, method: str, persona: str) -> int:
    if persona == "anonymous":
        return LOGIN_REDIRECT
    if persona == "outsider":
        return 404
    if persona in web_table.ALLOWED[route.level]:
        if method == "GET":
            return 302 if route.get_redirects else 200
        return 200 if route.post_renders else 302
    return 404 if route.level == "reader" else 403


ORG_CALLS = _web_calls(web_table.ORG_ROUTES)


@pytest.mark.parametrize(("route", "method"), ORG_CALLS)
def test_org_route(cast: Cast, route: web_table.OrgRoute, method: str) -> None:
    background(cast)
    ids = route.setup(cast)
    plant(cast)
    url, data = route.url(cast, ids), route.data(cast)
    shows = method == "GET" and names_an_object(tuple(ids))
    expected = partial(org_route_status, route, method)
    problems = _web_problems(cast, method, url, data, expected, shows)
    assert not problems, "\n".join(problems)


# --- Web routes outside an organization -------------------------------------------------------------------


def _audience(route: web_table.UserRoute) -> set[str]:
    if route.audience is not None:
        return set(route.audience)
    if route.allowed in ("member", "anonymous"):
        return set(PERSONAS) - {"anonymous"}
    return {route.allowed}


def user_route_status(route: web_table.UserRoute, method: str, persona: str) -> int:
    if method == "GET":
        works = 302 if route.get_redirects else 200
    else:
        works = 200 if route.post_renders else 302
    if persona == "anonymous":
        return works if route.anonymous_ok else LOGIN_REDIRECT
    if route.allowed == "anonymous" and method == "GET":
        return 302  # a page for visitors (the login form) sends a logged-in user on
    if persona in _audience(route):
        return works
    return 403 if route.forbidden else 404


USER_CALLS = _web_calls(web_table.USER_ROUTES)


@pytest.mark.parametrize(("route", "method"), USER_CALLS)
def test_user_route(cast: Cast, route: web_table.UserRoute, method: str) -> None:
    background(cast)
    ids = route.setup(cast)
    plant(cast)
    url, data = route.url(ids), route.data(cast)
    expected = partial(user_route_status, route, method)
    problems = _web_problems(cast, method, url, data, expected, shows=False)
    assert not problems, "\n".join(problems)


# --- The operator URLs and the API's own pages ------------------------------------------------------------

METRICS_TOKEN = "metrics-token-for-the-matrix"
# Named URLs that are neither web routes of the checklist nor API operations: who gets what.
OPERATOR_ROUTES: dict[str, tuple[str, int]] = {
    "healthz": ("/healthz", 200),  # public: no organization data in it
    "metrics": ("/metrics", 401),  # only with the operators' bearer token, never with a login
    "openapi-json": (BASE + "/openapi.json", 200),  # the schema, public
    "api-root": (BASE + "/", 404),  # the docs page is off
}


@pytest.fixture
def operators_token(settings: Any) -> str:
    settings.POSTROOM_METRICS_TOKEN = METRICS_TOKEN
    now = datetime.now(UTC)  # a live worker, so /healthz answers 200
    WorkerHeartbeat.objects.create(name="host-a:1", host="host-a", pid=1, started_at=now, last_beat_at=now)
    return METRICS_TOKEN


@pytest.mark.parametrize("name", sorted(OPERATOR_ROUTES))
def test_operator_route(cast: Cast, operators_token: str, name: str) -> None:
    background(cast)
    plant(cast)
    path, expected = OPERATOR_ROUTES[name]
    problems = []
    for persona in PERSONAS:
        client = _client(cast, persona)
        answer = _isolated(partial(client.get, path))
        problems += judge(persona, answer, expected, shows=False)
        if answer.status == 200 and MARK in answer.text:  # what these serve holds no organization's data
            problems.append(f"{persona}: {name} shows an organization's data")
    assert not problems, "\n".join(problems)


def test_metrics_with_the_operators_token_name_no_organization_data(cast: Cast, operators_token: str) -> None:
    background(cast)
    plant(cast)
    response = Client().get("/metrics", headers={"Authorization": f"Bearer {operators_token}"})
    assert response.status_code == 200
    assert b"postroom_" in response.content
    assert MARK.encode() not in response.content


# --- API operations ---------------------------------------------------------------------------------------


def api_status(op: api_table.Op, persona: str) -> int:
    if persona == "anonymous":
        return 401
    if persona in api_table.ALLOWED[op.need]:
        return op.ok
    if persona == "outsider" and "{slug}" in op.path:
        return 404
    return 404 if op.need == "reader" else 403


def _api_send(world: api_table.World, op: api_table.Op, persona: str) -> Callable[[], Any]:
    def send() -> Any:
        token = None if persona == "anonymous" else token_for(getattr(world.cast, persona))
        return call(op.method, api_table.path_of(op, world.ids), token, op.body(world))

    return send


@pytest.mark.parametrize("op", api_table.OPS, ids=lambda op: op.name)
def test_api_operation(request: pytest.FixtureRequest, op: api_table.Op) -> None:
    world: api_table.World = request.getfixturevalue("world")
    plant(world.cast)
    shows = op.method == "GET" and names_an_object(op.id_params)
    problems = []
    for persona in PERSONAS:
        answer = _isolated(_api_send(world, op, persona))
        problems += judge(persona, answer, api_status(op, persona), shows)
    assert not problems, "\n".join(problems)


world = api_table.world  # the checklist's fixture: acme's objects and their globex twins


# --- Guards: every URL and every operation is in the matrix -----------------------------------------------


def _patterns(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(route, name) of every URL pattern, includes followed."""
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern.name or f"<unnamed {pattern.pattern}>"


def _as_api_path(route: str) -> str:
    return "/" + route.removeprefix(BASE.lstrip("/") + "/").replace("<", "{").replace(">", "}")


def test_every_url_pattern_is_in_the_matrix() -> None:
    web_names = {r.name for r in web_table.ORG_ROUTES} | {r.name for r in web_table.USER_ROUTES}
    api_paths = {op.path for op in api_table.OPS}
    missing = [
        f"{route} ({name})"
        for route, name in _patterns(get_resolver().url_patterns)
        if name not in web_names and name not in OPERATOR_ROUTES and _as_api_path(route) not in api_paths
    ]
    assert not missing, f"add these URLs to a checklist table or OPERATOR_ROUTES: {missing}"


def test_every_openapi_operation_is_in_the_matrix() -> None:
    schema = api.get_openapi_schema()
    documented = {
        f"{method.upper()} {path.removeprefix(BASE)}"
        for path, operations in schema["paths"].items()
        for method in operations
    }
    assert documented == {op.name for op in api_table.OPS}


def matrix_size() -> dict[str, int]:
    return {
        "organization web routes × methods": len(ORG_CALLS),
        "other web routes × methods": len(USER_CALLS),
        "operator URLs": len(OPERATOR_ROUTES),
        "API operations": len(api_table.OPS),
        "personas": len(PERSONAS),
    }


def test_matrix_size(capsys: pytest.CaptureFixture[str]) -> None:
    size = matrix_size()
    calls = sum(n for what, n in size.items() if what != "personas") * size["personas"]
    with capsys.disabled():
        print(f"\npersona matrix: {size} = {calls} calls")
    # Every level the tables use has an expectation here, so no route falls through to a default.
    assert {route.level for route in web_table.ORG_ROUTES} <= set(web_table.ALLOWED)
    assert {op.need for op in api_table.OPS} <= set(api_table.ALLOWED)
