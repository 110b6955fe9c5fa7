"""The tenant checklist of STYLE.md for every API operation, driven by one table.

Each operation works for the people who may use it, is 403 for a member without the permission, 404 for
another organization's admin (never 403: existence is not revealed), 401 without or with a bad token,
404 for a bad id or another organization's object, and 405 for a method the path does not serve. The
guard test fails when the OpenAPI schema lists an operation missing from the table.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest

from postroom.accounts.models import User
from postroom.crm.models import LeadSource
from postroom.mailboxes.models import Mailbox
from postroom.organizations.models import Role
from postroom.outbox.models import OutgoingMessage
from tests.api_helpers import call, mailbox_body, token_for
from tests.autoresponse_helpers import make_rule, make_template
from tests.compose_helpers import CLOSED_PORT, failed_outgoing, received, sending_mailbox
from tests.conftest import Cast
from tests.factories import make_lead_source, make_mailbox, make_role
from tests.processing_helpers import converted_case, converted_lead


@dataclass
class World:
    """Objects for the paths: acme's, and a twin of each in globex (for the other-organization 404)."""

    cast: Cast
    ids: dict[str, Any]
    foreign_ids: dict[str, Any]


def _mail_ids(mailbox: Mailbox) -> dict[str, int]:
    """A conversation and an attachment in `mailbox`, for the mail reading operations."""
    message = received(mailbox, attachments=[("notes.txt", "text/plain", b"private notes")])
    return {"thread_id": message.thread_id, "attachment_id": message.attachments.get().pk}


@pytest.fixture
def world(cast: Cast) -> World:
    victim_role = make_role(cast.acme, "Victim")
    # A closed loopback port: the connection check answers at once (connection refused). Members of
    # Support may read it and send from it (nothing is sent: no test here commits a transaction).
    mailbox = sending_mailbox(cast.acme, (cast.support_role,), imap_host="127.0.0.1", imap_port=CLOSED_PORT)
    source = make_lead_source(cast.acme, "Email")
    ids = {
        "slug": cast.acme.slug,
        "role_id": victim_role.pk,
        "user_id": cast.loner.pk,
        "mailbox_id": mailbox.pk,
        "source_id": source.pk,
        "key": "email.sync_interval_minutes",
        "lead_id": converted_lead(cast.acme, cast.member).pk,
        "case_id": converted_case(cast.acme, cast.member).pk,
        "rule_id": make_rule(mailbox).pk,
        "template_id": make_template(cast.acme, name="Thanks").pk,
        "message_id": received(mailbox).pk,
        "outgoing_id": failed_outgoing(mailbox).pk,
        **_mail_ids(mailbox),
    }
    foreign_ids = {
        **ids,
        "role_id": make_role(cast.globex, "Victim").pk,
        "user_id": cast.outsider.pk,
        "mailbox_id": make_mailbox(cast.globex).pk,
        "source_id": make_lead_source(cast.globex, "Email").pk,
        "lead_id": converted_lead(cast.globex, cast.outsider).pk,
        "case_id": converted_case(cast.globex, cast.outsider).pk,
        "rule_id": make_rule(make_mailbox(cast.globex, "Sales")).pk,
        "template_id": make_template(cast.globex, name="Thanks").pk,
        "message_id": received(sending_mailbox(cast.globex, label="Foreign mail")).pk,
        "outgoing_id": failed_outgoing(sending_mailbox(cast.globex, label="Foreign outbox")).pk,
        **_mail_ids(sending_mailbox(cast.globex, label="Foreign files")),
    }
    return World(cast, ids, foreign_ids)


Body = Callable[[World], Any]
RULE_PATH = "/orgs/{slug}/mailboxes/{mailbox_id}/rules/{rule_id}"
PREVIEW_RAW = "From: ann@example.org\r\nSubject: Hi\r\n\r\nHello\r\n"


def template_body(name: str) -> dict[str, Any]:
    return {
        "name": name,
        "type": "text",
        "translations": [{"language": "en", "subject": "Hi", "content": "Hello"}],
    }


def rule_body() -> dict[str, Any]:
    return {
        "name": "Thanks",
        "conditions": [{"field": "subject", "operator": "contains", "value": "order"}],
        "template": {
            "type": "text",
            "translations": [{"language": "en", "subject": "Re", "content": "Thanks"}],
        },
    }


def no_body(world: World) -> Any:
    return None


@dataclass(frozen=True)
class Op:
    method: str
    path: str
    need: str  # "anyone", "member", "reader" (of the mailbox), "configure", "admin", "platform"
    ok: int = 200
    body: Body = no_body
    # Path parameters that name an object (a bad value must be 404); slug alone means the organization.
    id_params: tuple[str, ...] = field(default=())

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"


OPS: tuple[Op, ...] = (
    Op("GET", "/me", "anyone"),
    Op("GET", "/orgs", "anyone"),
    Op("POST", "/orgs", "platform", 201, lambda w: {"slug": "initech", "name": "Initech"}),
    Op("GET", "/orgs/{slug}", "member"),
    Op("GET", "/orgs/{slug}/audit", "admin"),
    Op("GET", "/orgs/{slug}/roles", "configure"),
    Op("POST", "/orgs/{slug}/roles", "admin", 201, lambda w: {"name": "Billing"}),
    Op("GET", "/orgs/{slug}/roles/{role_id}", "configure", id_params=("role_id",)),
    Op("PATCH", "/orgs/{slug}/roles/{role_id}", "admin", 200, lambda w: {"name": "Renamed"}, ("role_id",)),
    Op("DELETE", "/orgs/{slug}/roles/{role_id}", "admin", 204, id_params=("role_id",)),
    Op("GET", "/orgs/{slug}/members", "admin"),
    Op(
        "POST",
        "/orgs/{slug}/members",
        "admin",
        201,
        lambda w: {
            "email": "new@acme.example",
            "full_name": "New Person",
            "password": "a-Long-unusual-pw-93",
        },
    ),
    Op("GET", "/orgs/{slug}/members/{user_id}", "admin", id_params=("user_id",)),
    Op(
        "PATCH",
        "/orgs/{slug}/members/{user_id}",
        "admin",
        200,
        lambda w: {"roles": [w.cast.support_role.pk]},
        ("user_id",),
    ),
    Op("DELETE", "/orgs/{slug}/members/{user_id}", "admin", 204, id_params=("user_id",)),
    Op("GET", "/orgs/{slug}/mailboxes", "configure"),
    Op("POST", "/orgs/{slug}/mailboxes", "configure", 201, lambda w: mailbox_body()),
    Op("GET", "/orgs/{slug}/mailboxes/{mailbox_id}", "configure", id_params=("mailbox_id",)),
    Op(
        "PATCH",
        "/orgs/{slug}/mailboxes/{mailbox_id}",
        "configure",
        200,
        lambda w: {"label": "Help desk"},
        ("mailbox_id",),
    ),
    Op("DELETE", "/orgs/{slug}/mailboxes/{mailbox_id}", "configure", 204, id_params=("mailbox_id",)),
    Op("POST", "/orgs/{slug}/mailboxes/{mailbox_id}/check", "configure", id_params=("mailbox_id",)),
    Op("GET", "/orgs/{slug}/mailboxes/{mailbox_id}/folders", "configure", id_params=("mailbox_id",)),
    Op(
        "PUT",
        "/orgs/{slug}/mailboxes/{mailbox_id}/folders",
        "configure",
        200,
        lambda w: {"sync": []},
        ("mailbox_id",),
    ),
    Op("GET", "/orgs/{slug}/lead-sources", "configure"),
    Op("POST", "/orgs/{slug}/lead-sources", "configure", 201, lambda w: {"label": "Web form"}),
    Op(
        "PATCH",
        "/orgs/{slug}/lead-sources/{source_id}",
        "configure",
        200,
        lambda w: {"label": "Inbound email"},
        ("source_id",),
    ),
    Op("GET", "/orgs/{slug}/settings", "configure"),
    Op("PUT", "/orgs/{slug}/settings/{key}", "configure", 200, lambda w: {"value": 5}, ("key",)),
    Op("DELETE", "/orgs/{slug}/settings/{key}", "configure", 200, id_params=("key",)),
    Op("GET", "/orgs/{slug}/leads", "member"),
    Op("GET", "/orgs/{slug}/leads/{lead_id}", "member", id_params=("lead_id",)),
    Op("PATCH", "/orgs/{slug}/leads/{lead_id}", "member", 200, lambda w: {"language": "de"}, ("lead_id",)),
    Op("GET", "/orgs/{slug}/cases", "member"),
    Op("GET", "/orgs/{slug}/cases/{case_id}", "member", id_params=("case_id",)),
    Op("GET", "/orgs/{slug}/mailboxes/{mailbox_id}/rules", "configure", id_params=("mailbox_id",)),
    Op(
        "POST",
        "/orgs/{slug}/mailboxes/{mailbox_id}/rules",
        "configure",
        201,
        lambda w: rule_body(),
        ("mailbox_id",),
    ),
    Op("GET", RULE_PATH, "configure", id_params=("mailbox_id", "rule_id")),
    Op("PUT", RULE_PATH, "configure", 200, lambda w: rule_body(), ("mailbox_id", "rule_id")),
    Op("DELETE", RULE_PATH, "configure", 204, id_params=("mailbox_id", "rule_id")),
    Op("POST", RULE_PATH + "/move", "configure", 200, lambda w: {"position": 0}, ("mailbox_id", "rule_id")),
    Op(
        "POST",
        RULE_PATH + "/preview",
        "configure",
        200,
        lambda w: {"raw": PREVIEW_RAW},
        ("mailbox_id", "rule_id"),
    ),
    Op(
        "POST",
        RULE_PATH + "/save-as-template",
        "configure",
        201,
        lambda w: {"name": "Saved reply"},
        ("mailbox_id", "rule_id"),
    ),
    Op("GET", "/orgs/{slug}/templates", "configure"),
    Op("POST", "/orgs/{slug}/templates", "configure", 201, lambda w: template_body("Welcome")),
    Op("GET", "/orgs/{slug}/templates/{template_id}", "configure", id_params=("template_id",)),
    Op(
        "PUT",
        "/orgs/{slug}/templates/{template_id}",
        "configure",
        200,
        lambda w: template_body("Renamed"),
        ("template_id",),
    ),
    Op("DELETE", "/orgs/{slug}/templates/{template_id}", "configure", 204, id_params=("template_id",)),
    Op(
        "POST",
        "/orgs/{slug}/messages/{message_id}/reply",
        "reader",
        201,
        lambda w: {"mode": "all", "body": "Thanks"},
        ("message_id",),
    ),
    Op(
        "POST",
        "/orgs/{slug}/mailboxes/{mailbox_id}/messages",
        "reader",
        201,
        lambda w: {"to": ["ann@example.org"], "subject": "Hi"},
        ("mailbox_id",),
    ),
    Op("GET", "/orgs/{slug}/outgoing/{outgoing_id}", "reader", id_params=("outgoing_id",)),
    Op("GET", "/orgs/{slug}/mail/mailboxes", "member"),
    Op("GET", "/orgs/{slug}/mail/mailboxes/{mailbox_id}/threads", "reader", id_params=("mailbox_id",)),
    Op("GET", "/orgs/{slug}/mail/threads/{thread_id}", "reader", id_params=("thread_id",)),
    Op("POST", "/orgs/{slug}/mail/threads/{thread_id}/read", "reader", id_params=("thread_id",)),
    Op("POST", "/orgs/{slug}/mail/threads/{thread_id}/unread", "reader", id_params=("thread_id",)),
    Op("GET", "/orgs/{slug}/mail/attachments/{attachment_id}", "reader", id_params=("attachment_id",)),
    Op("GET", "/orgs/{slug}/mail/search", "member"),
)

ALLOWED: dict[str, list[str]] = {
    "anyone": ["platform_admin", "org_admin", "configurer", "member", "loner", "outsider"],
    "member": ["platform_admin", "org_admin", "configurer", "member", "loner"],
    "reader": ["platform_admin", "org_admin", "configurer", "member"],
    "configure": ["platform_admin", "org_admin", "configurer"],
    "admin": ["platform_admin", "org_admin"],
    "platform": ["platform_admin"],
}
FORBIDDEN: dict[str, list[str]] = {
    "anyone": [],
    "member": [],
    "reader": [],
    "configure": ["member", "loner"],
    "admin": ["configurer", "member", "loner"],
    "platform": ["org_admin", "configurer", "outsider"],
}
BAD_VALUES = {
    "role_id": 999999,
    "user_id": 999999,
    "mailbox_id": 999999,
    "source_id": 999999,
    "key": "no.such",
    "lead_id": 999999,
    "case_id": 999999,
    "rule_id": 999999,
    "template_id": 999999,
    "message_id": 999999,
    "outgoing_id": 999999,
    "thread_id": 999999,
    "attachment_id": 999999,
}
ORG_SCOPED = [op for op in OPS if "{slug}" in op.path]


def cases(kind: dict[str, list[str]], ops: tuple[Op, ...] | list[Op] = OPS) -> list[Any]:
    return [pytest.param(op, persona, id=f"{op.name}-{persona}") for op in ops for persona in kind[op.need]]


def path_of(op: Op, values: dict[str, Any]) -> str:
    return op.path.format(**values)


def send(op: Op, world: World, user: User | None, values: dict[str, Any] | None = None) -> Any:
    token = token_for(user) if user is not None else None
    return call(op.method, path_of(op, values or world.ids), token, op.body(world))


@pytest.mark.parametrize(("op", "persona"), cases(ALLOWED))
def test_operation_works_for_permitted_persona(world: World, op: Op, persona: str) -> None:
    response = send(op, world, getattr(world.cast, persona))
    assert response.status_code == op.ok, response.content


@pytest.mark.parametrize("op", [op for op in OPS if op.need == "reader"], ids=lambda op: op.name)
def test_mail_operation_is_404_for_member_without_access_to_the_mailbox(world: World, op: Op) -> None:
    before = OutgoingMessage.objects.count()
    response = send(op, world, world.cast.loner)
    assert response.status_code == 404, response.content
    assert OutgoingMessage.objects.count() == before


@pytest.mark.parametrize(("op", "persona"), cases(FORBIDDEN))
def test_operation_is_403_for_member_without_permission(world: World, op: Op, persona: str) -> None:
    response = send(op, world, getattr(world.cast, persona))
    assert response.status_code == 403, response.content
    assert "detail" in response.json()


@pytest.mark.parametrize("op", ORG_SCOPED, ids=lambda op: op.name)
def test_operation_is_404_for_another_organizations_admin(world: World, op: Op) -> None:
    response = send(op, world, world.cast.outsider)
    assert response.status_code == 404, response.content


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_operation_is_401_without_token(world: World, op: Op) -> None:
    assert send(op, world, None).status_code == 401


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_operation_is_401_with_bad_token(world: World, op: Op) -> None:
    response = call(op.method, path_of(op, world.ids), "pr_not-a-real-token", op.body(world))
    assert response.status_code == 401


@pytest.mark.parametrize("op", OPS, ids=lambda op: op.name)
def test_operation_is_401_for_deactivated_user(world: World, op: Op) -> None:
    admin = world.cast.platform_admin
    token = token_for(admin)
    User.objects.filter(pk=admin.pk).update(is_active=False)
    assert call(op.method, path_of(op, world.ids), token, op.body(world)).status_code == 401


@pytest.mark.parametrize("op", ORG_SCOPED, ids=lambda op: op.name)
def test_operation_is_404_for_bad_id_or_slug(world: World, op: Op) -> None:
    bad = {**world.ids, **{name: BAD_VALUES[name] for name in op.id_params}}
    if not op.id_params:
        bad["slug"] = "no-such-org"
    assert send(op, world, world.cast.org_admin, bad).status_code == 404


@pytest.mark.parametrize(
    "op", [op for op in OPS if op.id_params and op.id_params != ("key",)], ids=lambda op: op.name
)
def test_operation_is_404_for_another_organizations_object(world: World, op: Op) -> None:
    before = _snapshot()
    response = send(op, world, world.cast.org_admin, world.foreign_ids)
    assert response.status_code == 404
    assert _snapshot() == before


def _snapshot() -> tuple[Any, ...]:
    return (
        sorted(Role.objects.values_list("pk", "name")),
        sorted(Mailbox.objects.values_list("pk", "label")),
        sorted(LeadSource.objects.values_list("pk", "label")),
        sorted(User.objects.values_list("pk", "memberships__organization_id")),
        sorted(OutgoingMessage.objects.values_list("pk", "status")),
    )


def _wrong_method(path: str) -> str:
    served = {op.method for op in OPS if op.path == path}
    return next(m for m in ("PUT", "POST", "PATCH", "DELETE", "GET") if m not in served)


@pytest.mark.parametrize("path", sorted({op.path for op in OPS}))
def test_path_is_405_for_method_it_does_not_serve(world: World, path: str) -> None:
    response = call(_wrong_method(path), path.format(**world.ids), token_for(world.cast.org_admin), {})
    assert response.status_code == 405


def test_every_operation_in_the_openapi_schema_is_in_the_checklist(db: None) -> None:
    schema = json.loads(call("GET", "/openapi.json").content)
    documented = {
        f"{method.upper()} {path.removeprefix('/api/v1')}"
        for path, operations in schema["paths"].items()
        for method in operations
    }
    assert documented == {op.name for op in OPS}
