"""The autoresponse API: rules with conditions and inline templates, validation per field, reordering,
preview and "Save Response As Email Template"."""

from __future__ import annotations

import json
from typing import Any

import pytest

from postroom.autoresponse.models import EmailTemplate, Rule
from tests.api_helpers import as_user
from tests.conftest import Cast
from tests.factories import make_mailbox

pytestmark = pytest.mark.django_db


def rule_body(name: str = "Orders", **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "name": name,
        "conditions": [{"field": "subject", "operator": "contains", "value": "order"}],
        "template": {
            "type": "text",
            "translations": [{"language": "en", "subject": "Re: {{ message.subject }}", "content": "Thanks"}],
        },
    }
    body.update(extra)
    return body


def test_rule_round_trips_with_conditions_and_inline_template(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    path = f"/orgs/acme/mailboxes/{mailbox.pk}/rules"

    created = as_user(cast.org_admin, "POST", path, rule_body())
    assert created.status_code == 201
    rule = json.loads(created.content)
    assert rule["active"] and rule["activated_at"] and rule["template_id"] is None
    assert rule["conditions"] == [{"field": "subject", "operator": "contains", "value": "order"}]

    fetched = json.loads(as_user(cast.org_admin, "GET", f"{path}/{rule['id']}").content)
    assert fetched == rule


def test_unsafe_regex_and_bad_template_are_422_with_the_field(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    body = rule_body(conditions=[{"field": "body", "operator": "matches", "value": "(a+)+$"}])
    body["template"]["translations"][0]["content"] = "{% for %}"

    response = as_user(cast.org_admin, "POST", f"/orgs/acme/mailboxes/{mailbox.pk}/rules", body)

    assert response.status_code == 422
    errors = json.loads(response.content)["errors"]
    assert "too long" in " ".join(errors["conditions.0"]) and "syntax" in " ".join(
        errors["template.translations.0"]
    )
    assert not Rule.objects.exists()


def test_rules_reorder(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    path = f"/orgs/acme/mailboxes/{mailbox.pk}/rules"
    ids = [json.loads(as_user(cast.org_admin, "POST", path, rule_body(n)).content)["id"] for n in "ABC"]

    moved = as_user(cast.org_admin, "POST", f"{path}/{ids[2]}/move", {"position": 0})

    assert [r["name"] for r in json.loads(moved.content)] == ["C", "A", "B"]


def test_save_response_as_email_template_then_use_it(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    path = f"/orgs/acme/mailboxes/{mailbox.pk}/rules"
    rule = json.loads(as_user(cast.org_admin, "POST", path, rule_body()).content)

    saved = as_user(cast.org_admin, "POST", f"{path}/{rule['id']}/save-as-template", {"name": "Order reply"})
    again = as_user(cast.org_admin, "POST", f"{path}/{rule['id']}/save-as-template", {"name": "order REPLY"})

    assert saved.status_code == 201 and again.status_code == 422
    template = json.loads(saved.content)
    assert template["translations"][0]["subject"] == "Re: {{ message.subject }}"
    body = rule_body("Uses template", template_id=template["id"], template=None)
    assert as_user(cast.org_admin, "POST", path, body).status_code == 201
    in_use = as_user(cast.org_admin, "DELETE", f"/orgs/acme/templates/{template['id']}")
    assert in_use.status_code == 409 and EmailTemplate.objects.filter(pk=template["id"]).exists()


def test_preview_a_pasted_message(cast: Cast) -> None:
    mailbox = make_mailbox(cast.acme)
    path = f"/orgs/acme/mailboxes/{mailbox.pk}/rules"
    rule = json.loads(as_user(cast.org_admin, "POST", path, rule_body()).content)
    raw = "From: Ann <ann@example.org>\r\nSubject: Hello\r\n\r\nHi\r\n"

    result = json.loads(as_user(cast.org_admin, "POST", f"{path}/{rule['id']}/preview", {"raw": raw}).content)

    assert result["matched"] is False and result["failed_condition"] == "Subject contains “order”"
    assert result["subject"] == "Re: Hello"


def test_a_template_of_another_organization_cannot_be_used(cast: Cast) -> None:
    foreign = EmailTemplate.objects.create(organization=cast.globex, name="Theirs")
    mailbox = make_mailbox(cast.acme)
    body = rule_body(template_id=foreign.pk, template=None)

    response = as_user(cast.org_admin, "POST", f"/orgs/acme/mailboxes/{mailbox.pk}/rules", body)

    assert response.status_code == 422 and "template_id" in json.loads(response.content)["errors"]
