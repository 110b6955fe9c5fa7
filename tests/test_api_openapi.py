"""The OpenAPI schema: public, valid JSON, complete, and declaring bearer authentication."""

from __future__ import annotations

import json

from tests.api_helpers import call

EXPECTED_PATHS = {
    "/api/v1/me": {"get"},
    "/api/v1/orgs": {"get", "post"},
    "/api/v1/orgs/{slug}": {"get"},
    "/api/v1/orgs/{slug}/audit": {"get"},
    "/api/v1/orgs/{slug}/roles": {"get", "post"},
    "/api/v1/orgs/{slug}/roles/{role_id}": {"get", "patch", "delete"},
    "/api/v1/orgs/{slug}/members": {"get", "post"},
    "/api/v1/orgs/{slug}/members/{user_id}": {"get", "patch", "delete"},
    "/api/v1/orgs/{slug}/mailboxes": {"get", "post"},
    "/api/v1/orgs/{slug}/mailboxes/{mailbox_id}": {"get", "patch", "delete"},
    "/api/v1/orgs/{slug}/mailboxes/{mailbox_id}/check": {"post"},
    "/api/v1/orgs/{slug}/mailboxes/{mailbox_id}/folders": {"get", "put"},
    "/api/v1/orgs/{slug}/lead-sources": {"get", "post"},
    "/api/v1/orgs/{slug}/lead-sources/{source_id}": {"patch"},
    "/api/v1/orgs/{slug}/settings": {"get"},
    "/api/v1/orgs/{slug}/settings/{key}": {"put", "delete"},
    "/api/v1/orgs/{slug}/leads": {"get"},
    "/api/v1/orgs/{slug}/leads/{lead_id}": {"get", "patch"},
    "/api/v1/orgs/{slug}/cases": {"get"},
    "/api/v1/orgs/{slug}/cases/{case_id}": {"get"},
    "/api/v1/orgs/{slug}/mailboxes/{mailbox_id}/rules": {"get", "post"},
    "/api/v1/orgs/{slug}/mailboxes/{mailbox_id}/rules/{rule_id}": {"get", "put", "delete"},
    "/api/v1/orgs/{slug}/mailboxes/{mailbox_id}/rules/{rule_id}/move": {"post"},
    "/api/v1/orgs/{slug}/mailboxes/{mailbox_id}/rules/{rule_id}/preview": {"post"},
    "/api/v1/orgs/{slug}/mailboxes/{mailbox_id}/rules/{rule_id}/save-as-template": {"post"},
    "/api/v1/orgs/{slug}/templates": {"get", "post"},
    "/api/v1/orgs/{slug}/templates/{template_id}": {"get", "put", "delete"},
    "/api/v1/orgs/{slug}/mail/mailboxes": {"get"},
    "/api/v1/orgs/{slug}/mailboxes/{mailbox_id}/messages": {"post"},
    "/api/v1/orgs/{slug}/messages/{message_id}/reply": {"post"},
    "/api/v1/orgs/{slug}/outgoing/{outgoing_id}": {"get"},
    "/api/v1/orgs/{slug}/mail/mailboxes/{mailbox_id}/threads": {"get"},
    "/api/v1/orgs/{slug}/mail/threads/{thread_id}": {"get"},
    "/api/v1/orgs/{slug}/mail/threads/{thread_id}/read": {"post"},
    "/api/v1/orgs/{slug}/mail/threads/{thread_id}/unread": {"post"},
    "/api/v1/orgs/{slug}/mail/attachments/{attachment_id}": {"get"},
    "/api/v1/orgs/{slug}/mail/search": {"get"},
}


def _schema() -> dict[str, object]:
    response = call("GET", "/openapi.json")
    assert response.status_code == 200
    schema: dict[str, object] = json.loads(response.content)
    return schema


def test_schema_is_valid_json_listing_every_operation(db: None) -> None:
    schema = _schema()
    assert str(schema["openapi"]).startswith("3.")
    paths = schema["paths"]
    assert isinstance(paths, dict)
    assert {path: set(ops) for path, ops in paths.items()} == EXPECTED_PATHS


def test_schema_declares_bearer_auth_on_every_operation(db: None) -> None:
    schema = json.loads(call("GET", "/openapi.json").content)
    schemes = schema["components"]["securitySchemes"]
    assert [(s["type"], s["scheme"]) for s in schemes.values()] == [("http", "bearer")]
    name = next(iter(schemes))
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            assert operation["security"] == [{name: []}], f"{method} {path}"
            assert "401" in operation["responses"], f"{method} {path}"


def test_mailbox_schema_has_no_readable_password(db: None) -> None:
    components = json.loads(call("GET", "/openapi.json").content)["components"]["schemas"]
    out = components["MailboxOut"]["properties"]
    assert "has_password" in out
    assert not {"password", "password_ciphertext"} & set(out)
    assert components["MailboxIn"]["properties"]["password"]["writeOnly"] is True


def test_validation_errors_are_documented_with_field_messages(db: None) -> None:
    schema = json.loads(call("GET", "/openapi.json").content)
    responses = schema["paths"]["/api/v1/orgs/{slug}/mailboxes"]["post"]["responses"]
    ref = responses["422"]["content"]["application/json"]["schema"]["$ref"]
    assert set(schema["components"]["schemas"][ref.rsplit("/", 1)[1]]["properties"]) == {"detail", "errors"}


def test_docs_page_is_disabled_because_it_would_load_from_a_cdn(db: None) -> None:
    assert call("GET", "/docs").status_code == 404
